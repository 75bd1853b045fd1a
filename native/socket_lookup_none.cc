// Platforms without /proc/self/fd: no lookup by address.
#include <errno.h>

#include "socket_lookup.h"

namespace tcp_keepalive {

const bool kSocketLookupSupported = false;

int FindSocket(const char*, int, const char*, int, LookupResult*) { return -ENOSYS; }

double SocketInode(int) { return -ENOSYS; }

}  // namespace tcp_keepalive
