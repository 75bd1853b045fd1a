// The contract between the N-API glue (binding.cc) and the platform files
// (keepalive_posix.cc, keepalive_win.cc). Platform files only talk to the OS;
// they never see JavaScript.
#pragma once

namespace tcp_keepalive {

// Order of the values in every array that crosses the JS boundary.
enum Field { kEnable, kIdle, kInterval, kCount, kUserTimeout, kFieldCount };

// In a values array: "leave this field as it is" (Apply) or "cannot be read
// here" (Read).
constexpr int kUnset = -1;

// Apply/Read results: 0 on success, -errno when a system call failed, or
// kNotTcp when the fd is a socket but not a TCP one (a Unix socket, UDP...).
constexpr int kNotTcp = 1;

// What a field accepts on this platform, in the kernel's own unit.
struct FieldLimits {
  bool supported;
  int min;
  int max;
  int unit_ms;  // milliseconds per kernel unit; 1 for count (probes) and enable
};
extern const FieldLimits kLimits[kFieldCount];

// Writes every field that is not kUnset: the user timeout first (the one
// option a TCP-like socket may lack), then the timings, the on/off switch last. With verify_tcp, first checks that fd is a TCP socket; a
// caller that knows it is (Node's TCP handle) skips that system call.
//
// No value is read back for a rollback, and none is needed on any path the
// caller can reach: every value was validated against kLimits, and a closed,
// non-socket or non-TCP fd fails on the check or on the first write, before
// anything changed. A later write fails only if the kernel refuses a value it
// documents as valid (or another thread closed the fd in between). Then
// values says exactly what was applied: fields written keep their value,
// the failed one and those after it become kUnset.
int Apply(int fd, int values[kFieldCount], bool verify_tcp);

// Fills values with what the kernel holds (kUnset for a field the platform
// or this socket lacks), after the same TCP check as Apply when verify_tcp.
int Read(int fd, int values[kFieldCount], bool verify_tcp);

// 0 when fd is a TCP (or MPTCP) socket, kNotTcp for another kind of socket, or -errno.
int CheckTcp(int fd);

// Whether sockets accepted by a listening socket start with its keepalive
// settings, so configuring the listener configures every connection.
extern const bool kAcceptedSocketsInherit;

// Why nothing is supported, or nullptr where Apply/Read work.
extern const char* const kUnsupportedReason;

}  // namespace tcp_keepalive
