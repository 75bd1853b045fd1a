// Platforms without Linux's struct tcp_info (macOS has TCP_CONNECTION_INFO,
// the BSDs a different struct tcp_info): not supported yet.
#include <errno.h>

#include "tcp_info.h"

namespace tcp_keepalive {

const bool kTcpInfoSupported = false;

int ReadTcpInfo(int, double[kTcpInfoFieldCount], bool) { return -ENOTSUP; }

}  // namespace tcp_keepalive
