// Linux: readdir(/proc/self/fd), getsockname (which also tells sockets from
// other fds), getpeername, and for the ones that match the TCP check of
// keepalive.h and fstat for the socket's inode.
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keepalive.h"
#include "socket_lookup.h"

namespace tcp_keepalive {

const bool kSocketLookupSupported = true;

namespace {

// An address reduced to compare equal across families: IPv4 and IPv4-mapped IPv6 both as 4 bytes.
struct Endpoint {
  int length;  // 4 or 16
  unsigned char bytes[16];
  int port;
};

bool IsMapped(const unsigned char* bytes) {
  static const unsigned char kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(bytes, kPrefix, sizeof kPrefix) == 0;
}

bool FromText(const char* text, int port, Endpoint* endpoint) {
  char copy[INET6_ADDRSTRLEN + 32];
  size_t length = strlen(text);
  if (length >= sizeof copy) return false;
  memcpy(copy, text, length + 1);
  char* scope = strchr(copy, '%');
  if (scope != nullptr) *scope = '\0';
  endpoint->port = port;
  if (inet_pton(AF_INET, copy, endpoint->bytes) == 1) {
    endpoint->length = 4;
    return true;
  }
  if (inet_pton(AF_INET6, copy, endpoint->bytes) != 1) return false;
  endpoint->length = 16;
  if (IsMapped(endpoint->bytes)) {
    memmove(endpoint->bytes, endpoint->bytes + 12, 4);
    endpoint->length = 4;
  }
  return true;
}

bool FromSockaddr(const sockaddr_storage& address, Endpoint* endpoint) {
  if (address.ss_family == AF_INET) {
    const sockaddr_in& in = reinterpret_cast<const sockaddr_in&>(address);
    endpoint->length = 4;
    memcpy(endpoint->bytes, &in.sin_addr, 4);
    endpoint->port = ntohs(in.sin_port);
    return true;
  }
  if (address.ss_family == AF_INET6) {
    const sockaddr_in6& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    const unsigned char* bytes = in6.sin6_addr.s6_addr;
    endpoint->port = ntohs(in6.sin6_port);
    if (IsMapped(bytes)) {
      endpoint->length = 4;
      memcpy(endpoint->bytes, bytes + 12, 4);
    } else {
      endpoint->length = 16;
      memcpy(endpoint->bytes, bytes, 16);
    }
    return true;
  }
  return false;
}

bool Equal(const Endpoint& a, const Endpoint& b) {
  return a.port == b.port && a.length == b.length && memcmp(a.bytes, b.bytes, a.length) == 0;
}

// Whether the socket on fd has this local (and peer, or none when peer is null) address.
bool Matches(int fd, const Endpoint& local, const Endpoint* peer) {
  sockaddr_storage address;
  socklen_t length = sizeof address;
  Endpoint found;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
  if (!FromSockaddr(address, &found) || !Equal(found, local)) return false;
  length = sizeof address;
  bool connected = getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  if (peer == nullptr) {
    int listening = 0;
    socklen_t size = sizeof listening;
    return !connected && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 && listening != 0;
  }
  return connected && FromSockaddr(address, &found) && Equal(found, *peer);
}

bool ReusesPort(int fd) {
  int value = 0;
  socklen_t length = sizeof value;
  return getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &value, &length) == 0 && value != 0;
}

}  // namespace

int FindSocket(const char* local_ip, int local_port, const char* remote_ip, int remote_port, LookupResult* result) {
  Endpoint local, peer;
  if (!FromText(local_ip, local_port, &local)) return -EINVAL;
  if (remote_ip != nullptr && !FromText(remote_ip, remote_port, &peer)) return -EINVAL;
  DIR* directory = opendir("/proc/self/fd");
  if (directory == nullptr) return -errno;
  int own = dirfd(directory);
  int count = 0;
  result->reuseport_twins = remote_ip == nullptr;
  while (dirent* entry = readdir(directory)) {
    char* end;
    long number = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || end == entry->d_name || number == own) continue;  // ".", "..", the scan's own fd
    int fd = static_cast<int>(number);
    // getsockname first (ENOTSOCK for a file or a pipe): one system call per fd that does not match.
    if (!Matches(fd, local, remote_ip == nullptr ? nullptr : &peer) || CheckTcp(fd) != 0) continue;
    struct stat status;
    if (fstat(fd, &status) != 0 || !S_ISSOCK(status.st_mode)) continue;
    double inode = static_cast<double>(status.st_ino);
    bool seen = false;  // a dup() of a socket already counted: keep the lowest fd
    for (int i = 0; i < count && i < kLookupCapacity; i++) {
      if (result->inodes[i] != inode) continue;
      seen = true;
      if (fd < result->fds[i]) result->fds[i] = fd;
    }
    if (seen) continue;
    if (count < kLookupCapacity) {
      result->fds[count] = fd;
      result->inodes[count] = inode;
    }
    if (!ReusesPort(fd)) result->reuseport_twins = false;
    count++;
  }
  closedir(directory);
  if (count < 2) result->reuseport_twins = false;
  return count;
}

double SocketInode(int fd) {
  struct stat status;
  if (fstat(fd, &status) != 0) return -errno;
  if (!S_ISSOCK(status.st_mode)) return -ENOTSOCK;
  return static_cast<double>(status.st_ino);
}

}  // namespace tcp_keepalive
