// Borrowing another process's file descriptor (for `tcp-keepalive inspect`).
#pragma once

namespace tcp_keepalive {

// Returns a new fd in this process that refers to the same open socket as
// `fd` in process `pid` (pidfd_open + pidfd_getfd), or -errno: -EPERM without
// ptrace rights over it, -ESRCH when it is gone, -ENOSYS where the kernel
// (before 5.6) or the platform has no such calls. The caller closes the fd.
int DuplicateProcessFd(int pid, int fd);

}  // namespace tcp_keepalive
