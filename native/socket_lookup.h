// Finding one of this process's own sockets by its addresses, for runtimes
// that hand out no fd (Deno; Bun's http.Server connections).
#pragma once

namespace tcp_keepalive {

// Whether FindSocket and SocketInode work on this platform (Linux: /proc/self/fd).
extern const bool kSocketLookupSupported;

// At most this many matching sockets are reported (fds and inodes); the count returned may be larger.
constexpr int kLookupCapacity = 16;

// What FindSocket reports beyond the count.
struct LookupResult {
  // Every match is a listening socket with SO_REUSEPORT set (a set of twins bound together).
  bool reuseport_twins;
  int fds[kLookupCapacity];
  double inodes[kLookupCapacity];  // st_ino of each, exact up to 2^53
};

// Scans this process's open fds for distinct TCP sockets (fds that are dup()s
// of one socket count once, the lowest fd reported) whose local address is
// local_ip:local_port and, when remote_ip is not null, whose peer is
// remote_ip:remote_port; when remote_ip is null, listening sockets only.
// Addresses are numeric IPv4 or IPv6 text (a "%scope" suffix is ignored;
// IPv4-mapped IPv6 compares equal to IPv4). Returns the number of matches
// (0 for none), or -errno: -EINVAL for an address that does not parse,
// -ENOSYS where there is no lookup.
int FindSocket(const char* local_ip, int local_port, const char* remote_ip, int remote_port, LookupResult* result);

// The inode of the socket open on fd (so that a cached fd is used only while
// it still refers to the socket found), or -errno: -ENOTSOCK when fd is not a socket.
double SocketInode(int fd);

}  // namespace tcp_keepalive
