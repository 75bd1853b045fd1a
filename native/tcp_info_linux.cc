// Linux: getsockopt(TCP_INFO) into struct tcp_info.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmath>

#include "keepalive.h"
#include "tcp_info.h"

namespace tcp_keepalive {

const bool kTcpInfoSupported = true;

// A field of the struct the kernel filled `length` bytes of, or NaN past that.
#define KA_FILLED(info, length, member) \
  (offsetof(struct tcp_info, member) + sizeof(info.member) <= (length) ? static_cast<double>(info.member) : NAN)

int ReadTcpInfo(int fd, double values[kTcpInfoFieldCount], bool verify_tcp) {
  int error = verify_tcp ? CheckTcp(fd) : 0;
  if (error != 0) return error;
  struct tcp_info info = {};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -errno;
  values[kState] = KA_FILLED(info, length, tcpi_state);
  values[kProbes] = KA_FILLED(info, length, tcpi_probes);
  values[kBackoff] = KA_FILLED(info, length, tcpi_backoff);
  values[kRetransmits] = KA_FILLED(info, length, tcpi_retransmits);
  values[kTotalRetransmits] = KA_FILLED(info, length, tcpi_total_retrans);
  values[kRttMicros] = KA_FILLED(info, length, tcpi_rtt);
  values[kRttVarianceMicros] = KA_FILLED(info, length, tcpi_rttvar);
  values[kLastDataSentMs] = KA_FILLED(info, length, tcpi_last_data_sent);
  values[kLastDataReceivedMs] = KA_FILLED(info, length, tcpi_last_data_recv);
  values[kLastAckReceivedMs] = KA_FILLED(info, length, tcpi_last_ack_recv);
  return 0;
}

#undef KA_FILLED

}  // namespace tcp_keepalive
