// TCP_INFO: the kernel's live view of a connection (for readTcpInfo).
#pragma once

namespace tcp_keepalive {

// Order of the values in the array that crosses the JS boundary.
enum TcpInfoField {
  kState,             // TCP_ESTABLISHED (1) ... as in include/net/tcp_states.h
  kProbes,            // unanswered keepalive (or zero-window) probes
  kBackoff,           // exponential backoff of the retransmission or probe timer
  kRetransmits,       // retransmissions of the current unacknowledged data
  kTotalRetransmits,  // retransmissions over the connection's life
  kRttMicros,         // smoothed round-trip time
  kRttVarianceMicros,
  kLastDataSentMs,    // since the last data was sent
  kLastDataReceivedMs,
  kLastAckReceivedMs,
  kTcpInfoFieldCount
};

// Whether this platform has TCP_INFO in this form.
extern const bool kTcpInfoSupported;

// Fills values, NaN for a field the kernel did not fill (an older kernel, or
// an emulator, returns a shorter struct); returns 0, kNotTcp or -errno like
// Read in keepalive.h, with the same TCP check when verify_tcp.
int ReadTcpInfo(int fd, double values[kTcpInfoFieldCount], bool verify_tcp);

}  // namespace tcp_keepalive
