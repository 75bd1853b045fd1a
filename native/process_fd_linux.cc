// Linux 5.6+: pidfd_open(2) and pidfd_getfd(2), called through syscall(2)
// because glibc has no wrappers for them.
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "process_fd.h"

namespace tcp_keepalive {

int DuplicateProcessFd(int pid, int fd) {
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return -errno;
  int copy = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  int error = copy < 0 ? -errno : 0;
  close(pidfd);
  return copy < 0 ? error : copy;
#else
  (void)pid;
  (void)fd;
  return -ENOSYS;  // built against headers older than Linux 5.6
#endif
}

}  // namespace tcp_keepalive
