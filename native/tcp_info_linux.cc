// Linux: getsockopt(TCP_INFO) into struct tcp_info.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "keepalive.h"
#include "tcp_info.h"

namespace tcp_keepalive {

const bool kTcpInfoSupported = true;

int ReadTcpInfo(int fd, double values[kTcpInfoFieldCount]) {
  int error = CheckTcp(fd);
  if (error != 0) return error;
  struct tcp_info info = {};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -errno;
  values[kState] = info.tcpi_state;
  values[kProbes] = info.tcpi_probes;
  values[kBackoff] = info.tcpi_backoff;
  values[kRetransmits] = info.tcpi_retransmits;
  values[kTotalRetransmits] = info.tcpi_total_retrans;
  values[kRttMicros] = info.tcpi_rtt;
  values[kRttVarianceMicros] = info.tcpi_rttvar;
  values[kLastDataSentMs] = info.tcpi_last_data_sent;
  values[kLastDataReceivedMs] = info.tcpi_last_data_recv;
  values[kLastAckReceivedMs] = info.tcpi_last_ack_recv;
  return 0;
}

}  // namespace tcp_keepalive
