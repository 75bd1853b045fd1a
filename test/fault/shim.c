// Fault injection for the keepalive system calls, loaded with LD_PRELOAD by
// test/fault.test.ts. Read on every call, so a test arms it at run time with
// process.env (Node's setenv):
//   TCP_KEEPALIVE_FAIL_SETSOCKOPT="<n>:<errno>"  the n-th keepalive setsockopt
//       after arming (or after the value last changed) fails with errno.
//   TCP_KEEPALIVE_TCP_INFO_LENGTH="<bytes>"  getsockopt(TCP_INFO) fills only
//       that many bytes, like an older kernel (or qemu-user).
//   TCP_KEEPALIVE_MPTCP=1  TCP sockets are created as Multipath TCP, as
//       mptcpize (mptcpd) does for an unmodified program.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*setsockopt_fn)(int, int, int, const void*, socklen_t);
typedef int (*getsockopt_fn)(int, int, int, void*, socklen_t*);
typedef int (*socket_fn)(int, int, int);

int socket(int domain, int type, int protocol) {
  static socket_fn real;
  if (!real) real = (socket_fn)dlsym(RTLD_NEXT, "socket");
  const char* mptcp = getenv("TCP_KEEPALIVE_MPTCP");
  int inet_stream = (domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_STREAM;
  if (mptcp && *mptcp == '1' && inet_stream && (protocol == 0 || protocol == IPPROTO_TCP)) protocol = 262;  // IPPROTO_MPTCP
  return real(domain, type, protocol);
}

static int is_keepalive_option(int level, int name) {
  if (level == SOL_SOCKET) return name == SO_KEEPALIVE;
  return level == IPPROTO_TCP &&
         (name == TCP_KEEPIDLE || name == TCP_KEEPINTVL || name == TCP_KEEPCNT || name == TCP_USER_TIMEOUT);
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  static setsockopt_fn real;
  static char armed[64];
  static int calls;
  if (!real) real = (setsockopt_fn)dlsym(RTLD_NEXT, "setsockopt");
  const char* fault = getenv("TCP_KEEPALIVE_FAIL_SETSOCKOPT");
  if (fault && *fault && is_keepalive_option(level, name)) {
    if (strncmp(fault, armed, sizeof armed) != 0) {
      snprintf(armed, sizeof armed, "%s", fault);
      calls = 0;
    }
    int nth, error;
    if (sscanf(fault, "%d:%d", &nth, &error) == 2 && ++calls == nth) {
      errno = error;
      return -1;
    }
  }
  return real(fd, level, name, value, length);
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* length) {
  static getsockopt_fn real;
  if (!real) real = (getsockopt_fn)dlsym(RTLD_NEXT, "getsockopt");
  int result = real(fd, level, name, value, length);
  const char* limit = getenv("TCP_KEEPALIVE_TCP_INFO_LENGTH");
  if (result == 0 && limit && *limit && level == IPPROTO_TCP && name == TCP_INFO) {
    socklen_t shorter = (socklen_t)atoi(limit);
    if (shorter < *length) {
      memset((char*)value + shorter, 0xff, *length - shorter);  // garbage past the end, as a real short read leaves
      *length = shorter;
    }
  }
  return result;
}
