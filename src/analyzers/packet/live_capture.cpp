#include "analyzers/packet/live_capture.hpp"

#include <pcap/pcap.h>
#include <poll.h>

namespace d4::analyzers::packet {

LiveCapture::LiveCapture(const Options& o) {
  char err[PCAP_ERRBUF_SIZE] = {0};
  handle_ = pcap_create(o.interface.c_str(), err);
  if (!handle_) throw CaptureError(o.interface + ": " + err);
  auto fail = [&](const std::string& what) {
    std::string msg = o.interface + ": " + what + ": " + pcap_geterr(handle_);
    pcap_close(handle_);
    handle_ = nullptr;
    throw CaptureError(msg);
  };
  pcap_set_snaplen(handle_, o.snaplen);
  pcap_set_promisc(handle_, o.promiscuous ? 1 : 0);
  pcap_set_timeout(handle_, o.timeout_ms);
  pcap_set_buffer_size(handle_, o.buffer_bytes);
  pcap_set_tstamp_precision(handle_, PCAP_TSTAMP_PRECISION_NANO);
  pcap_set_immediate_mode(handle_, 1);  // deliver packets as they come, not per filled buffer
  if (pcap_activate(handle_) < 0) fail("cannot start capture");
  // Non-blocking reads with our own poll(): the read timeout of libpcap is not honoured on every
  // platform when no packet arrives at all, and a stop request must be seen promptly.
  char nb_err[PCAP_ERRBUF_SIZE] = {0};
  if (pcap_setnonblock(handle_, 1, nb_err) != 0) fail(std::string("cannot set non-blocking mode: ") + nb_err);
  fd_ = pcap_get_selectable_fd(handle_);
  timeout_ms_ = o.timeout_ms;
  if (!o.bpf_filter.empty()) {
    bpf_program prog{};
    if (pcap_compile(handle_, &prog, o.bpf_filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) fail("bad filter");
    int rc = pcap_setfilter(handle_, &prog);
    pcap_freecode(&prog);
    if (rc != 0) fail("cannot set filter");
  }
  linktype_ = static_cast<std::uint32_t>(pcap_datalink(handle_));
}

LiveCapture::~LiveCapture() {
  if (handle_) pcap_close(handle_);
}

LiveCapture::Result LiveCapture::next(Frame& f) {
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc = pcap_next_ex(handle_, &h, &data);
  if (rc == 0 && fd_ >= 0) {
    pollfd pfd{fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, timeout_ms_);
    if (pr <= 0) return Result::Timeout;  // nothing, or EINTR from a stop signal
    rc = pcap_next_ex(handle_, &h, &data);
  }
  if (rc == 1) {
    bool nano = pcap_get_tstamp_precision(handle_) == PCAP_TSTAMP_PRECISION_NANO;
    f.ts_ns = static_cast<std::int64_t>(h->ts.tv_sec) * 1000000000 +
              static_cast<std::int64_t>(h->ts.tv_usec) * (nano ? 1 : 1000);
    f.caplen = h->caplen;
    f.origlen = h->len;
    f.linktype = linktype_;
    f.data = data;
    f.number = ++frames_;
    return Result::Packet;
  }
  if (rc == 0) return Result::Timeout;
  if (rc == PCAP_ERROR_BREAK) return Result::End;
  error_ = pcap_geterr(handle_);
  return Result::Error;
}

std::uint64_t LiveCapture::dropped() const {
  pcap_stat st{};
  if (pcap_stats(handle_, &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.ps_drop) + st.ps_ifdrop;
}

}  // namespace d4::analyzers::packet
