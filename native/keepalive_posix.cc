// Linux, macOS and the BSDs: plain setsockopt/getsockopt on the fd.
// Which options exist is decided by the headers this file is compiled with.
#include "keepalive.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace tcp_keepalive {

// The idle time is TCP_KEEPIDLE on Linux and the BSDs, TCP_KEEPALIVE on Apple.
#if defined(TCP_KEEPIDLE)
#define KA_IDLE_OPTION TCP_KEEPIDLE
#elif defined(TCP_KEEPALIVE)
#define KA_IDLE_OPTION TCP_KEEPALIVE
#endif

namespace {

// level 0: this platform's headers have no such option.
struct Option {
  int level;
  int name;
};

const Option kOptions[kFieldCount] = {
    {SOL_SOCKET, SO_KEEPALIVE},
#ifdef KA_IDLE_OPTION
    {IPPROTO_TCP, KA_IDLE_OPTION},
#else
    {0, 0},
#endif
#ifdef TCP_KEEPINTVL
    {IPPROTO_TCP, TCP_KEEPINTVL},
#else
    {0, 0},
#endif
#ifdef TCP_KEEPCNT
    {IPPROTO_TCP, TCP_KEEPCNT},
#else
    {0, 0},
#endif
#ifdef TCP_USER_TIMEOUT
    {IPPROTO_TCP, TCP_USER_TIMEOUT},
#else
    {0, 0},
#endif
};

// The user timeout first: the one option a TCP-like socket may lack (MPTCP
// refuses it), so it fails before anything changed. Then the timings, and
// the on/off switch last: the kernel arms the first probe with the new idle
// time instead of the old one.
const Field kWriteOrder[] = {kUserTimeout, kIdle, kInterval, kCount, kEnable};

bool Supported(Field field) { return kOptions[field].level != 0; }

int GetOption(int fd, Field field, int* value) {
  socklen_t length = sizeof *value;
  const Option& option = kOptions[field];
  return getsockopt(fd, option.level, option.name, value, &length) == 0 ? 0 : -errno;
}

int SetOption(int fd, Field field, int value) {
  const Option& option = kOptions[field];
  return setsockopt(fd, option.level, option.name, &value, sizeof value) == 0 ? 0 : -errno;
}

}  // namespace

// Multipath TCP (Linux 5.6+): takes SO_KEEPALIVE and TCP_KEEP* like TCP.
// Older headers lack the name; the number is fixed by the kernel's ABI.
#if defined(__linux__) && !defined(IPPROTO_MPTCP)
#define IPPROTO_MPTCP 262
#endif

// TCP options on a Unix socket are refused, but SO_KEEPALIVE is silently
// accepted, so the socket's kind must be checked before anything is written.
int CheckTcp(int fd) {
  int value;
  socklen_t length = sizeof value;
  // A stream socket first: a raw socket can be opened with protocol IPPROTO_TCP.
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) != 0) return -errno;
  if (value != SOCK_STREAM) return kNotTcp;
#ifdef SO_PROTOCOL
  length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &value, &length) != 0) return -errno;
#ifdef IPPROTO_MPTCP
  if (value == IPPROTO_MPTCP) return 0;
#endif
  return value == IPPROTO_TCP ? 0 : kNotTcp;
#else
  sockaddr_storage address;
  length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return -errno;
  return address.ss_family == AF_INET || address.ss_family == AF_INET6 ? 0 : kNotTcp;
#endif
}

// Linux's bounds (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT in the
// kernel's include/net/tcp.h; TCP_USER_TIMEOUT takes a non-negative int of
// milliseconds). macOS and the BSDs accept wider ranges; these are the common
// subset, so a value accepted here is accepted everywhere.
const FieldLimits kLimits[kFieldCount] = {
    {true, 0, 1, 1},
    {Supported(kIdle), 1, 32767, 1000},
    {Supported(kInterval), 1, 32767, 1000},
    {Supported(kCount), 1, 127, 1},
    {Supported(kUserTimeout), 0, 2147483647, 1},
};

// Linux clones an accepted socket from its listener, keepalive settings and
// TCP_USER_TIMEOUT included (checked with getsockopt on accepted sockets in
// test/integrations.test.ts). Elsewhere this is not verified: configure each.
#ifdef __linux__
const bool kAcceptedSocketsInherit = true;
#else
const bool kAcceptedSocketsInherit = false;
#endif

const char* const kUnsupportedReason = nullptr;

int Apply(int fd, int values[kFieldCount], bool verify_tcp) {
  int error = verify_tcp ? CheckTcp(fd) : 0;
  for (int i = 0; i < kFieldCount; i++) {
    if (values[i] != kUnset && !Supported(static_cast<Field>(i))) error = -ENOPROTOOPT;
  }
  for (Field field : kWriteOrder) {
    if (values[field] == kUnset) continue;
    if (error == 0) error = SetOption(fd, field, values[field]);
    if (error != 0) values[field] = kUnset;  // not applied: see keepalive.h
  }
  return error;
}

int Read(int fd, int values[kFieldCount], bool verify_tcp) {
  int error = verify_tcp ? CheckTcp(fd) : 0;
  if (error != 0) return error;
  for (int i = 0; i < kFieldCount; i++) {
    Field field = static_cast<Field>(i);
    values[field] = kUnset;
    if (!Supported(field)) continue;
    error = GetOption(fd, field, &values[field]);
    // This socket lacks the option though the platform has it (TCP_USER_TIMEOUT on MPTCP): unknown.
    if ((error == -ENOPROTOOPT || error == -EOPNOTSUPP) && field != kEnable) {
      values[field] = kUnset;
      continue;
    }
    if (error != 0) return error;
  }
  // getsockopt(SO_KEEPALIVE) answers "non-zero" on some systems; report 0/1.
  values[kEnable] = values[kEnable] != 0;
  return 0;
}

}  // namespace tcp_keepalive
