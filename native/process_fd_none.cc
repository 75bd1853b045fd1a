// Platforms without pidfd_getfd: no way to borrow another process's socket.
#include <errno.h>

#include "process_fd.h"

namespace tcp_keepalive {

int DuplicateProcessFd(int, int) { return -ENOSYS; }

}  // namespace tcp_keepalive
