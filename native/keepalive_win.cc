// Windows: libuv hides the SOCKET behind the handle (socket._handle.fd is -1),
// so there is no fd to pass in. The TypeScript layer sees that nothing is
// supported here and uses Node's own socket.setKeepAlive instead.
#include "keepalive.h"

#include <errno.h>

namespace tcp_keepalive {

const FieldLimits kLimits[kFieldCount] = {};

const bool kAcceptedSocketsInherit = false;

const char* const kUnsupportedReason =
    "Windows: Node does not expose a socket's handle, so only socket.setKeepAlive can be used";

int Apply(int, int[kFieldCount], bool) { return -ENOTSUP; }

int CheckTcp(int) { return -ENOTSUP; }

int Read(int, int values[kFieldCount], bool) {
  for (int i = 0; i < kFieldCount; i++) values[i] = kUnset;
  return -ENOTSUP;
}

}  // namespace tcp_keepalive
