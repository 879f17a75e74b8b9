// Live capture with libpcap. The captured frames are turned into a pcap (libpcap 2.4, microsecond)
// byte stream: the 24-byte global header first, then one 16-byte record header + frame per packet,
// which is what D4 type 1 carries and what `tcpdump -w -` would have written.
#include <pcap/pcap.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "client/log.hpp"
#include "client/source.hpp"
#include "protocol/header.hpp"

namespace d4::client {
namespace {

class PcapSource final : public Source {
 public:
  PcapSource(const Settings& s, int stop_fd) : stop_fd_(stop_fd), iface_(s.interface) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_ = pcap_create(s.interface.c_str(), err);
    if (!pcap_) throw UsageError("pcap: cannot open interface " + s.interface + ": " + err);
    pcap_set_snaplen(pcap_, static_cast<int>(s.capture_snaplen));
    pcap_set_promisc(pcap_, s.promisc ? 1 : 0);
    pcap_set_timeout(pcap_, 100);
    pcap_set_buffer_size(pcap_, 8 << 20);
    int rc = pcap_activate(pcap_);
    if (rc < 0) {
      std::string msg = pcap_geterr(pcap_);
      if (msg.empty()) msg = pcap_statustostr(rc);
      pcap_close(pcap_);
      throw UsageError("pcap: cannot capture on " + s.interface + ": " + msg);
    }
    if (rc > 0) log_warn("pcap: " + s.interface + ": " + pcap_statustostr(rc));
    if (!s.filter.empty()) {
      bpf_program prog{};
      if (pcap_compile(pcap_, &prog, s.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        std::string msg = pcap_geterr(pcap_);
        pcap_close(pcap_);
        throw UsageError("pcap: bad filter '" + s.filter + "': " + msg);
      }
      rc = pcap_setfilter(pcap_, &prog);
      pcap_freecode(&prog);
      if (rc != 0) {
        std::string msg = pcap_geterr(pcap_);
        pcap_close(pcap_);
        throw UsageError("pcap: cannot set filter: " + msg);
      }
    }
    if (pcap_setnonblock(pcap_, 1, err) != 0) log_warn(std::string("pcap: non-blocking mode: ") + err);
    fd_ = pcap_get_selectable_fd(pcap_);
    // Global header, little endian, microsecond resolution.
    std::uint8_t gh[24] = {};
    protocol::store_le32(gh, 0xa1b2c3d4);
    gh[4] = 2;
    gh[6] = 4;
    protocol::store_le32(gh + 16, static_cast<std::uint32_t>(pcap_snapshot(pcap_)));
    protocol::store_le32(gh + 20, static_cast<std::uint32_t>(pcap_datalink(pcap_)));
    pending_.assign(gh, gh + sizeof gh);
    log_info("capturing on " + s.interface + (s.filter.empty() ? "" : " with filter '" + s.filter + "'") +
             ", link type " + std::to_string(pcap_datalink(pcap_)));
  }
  ~PcapSource() override {
    if (pcap_) pcap_close(pcap_);
  }

  ReadResult read(std::span<std::uint8_t> buf, int timeout_ms) override {
    while (pending_.size() - offset_ == 0) {
      pending_.clear();
      offset_ = 0;
      int n = pcap_dispatch(pcap_, 256, &PcapSource::on_packet, reinterpret_cast<u_char*>(this));
      if (n < 0) {
        if (n == PCAP_ERROR_BREAK) return {ReadStatus::Interrupted, 0, {}};
        return {ReadStatus::Error, 0, std::string("pcap: ") + pcap_geterr(pcap_)};
      }
      if (!pending_.empty()) break;
      bool stopped = false;
      if (fd_ >= 0) {
        // pcap's own timeout also bounds the wait (packets buffered in the ring without a wakeup).
        int wait = timeout_ms < 0 ? 100 : std::min(timeout_ms, 100);
        if (!wait_readable(fd_, stop_fd_, wait, &stopped)) {
          if (stopped) return {ReadStatus::Interrupted, 0, {}};
          if (timeout_ms >= 0 && (waited_ += wait) >= timeout_ms) {
            waited_ = 0;
            return {ReadStatus::Timeout, 0, {}};
          }
        }
      } else {
        pollfd p{stop_fd_, POLLIN, 0};
        if (::poll(&p, 1, 10) > 0) return {ReadStatus::Interrupted, 0, {}};
      }
    }
    waited_ = 0;
    std::size_t n = std::min(buf.size(), pending_.size() - offset_);
    std::memcpy(buf.data(), pending_.data() + offset_, n);
    offset_ += n;
    return {ReadStatus::Data, n, {}};
  }

  std::string describe() const override { return "interface " + iface_; }

  void log_summary() override {
    pcap_stat st{};
    if (pcap_stats(pcap_, &st) == 0)
      log_info("pcap " + iface_ + ": " + std::to_string(st.ps_recv) + " frames received, " +
               std::to_string(st.ps_drop) + " dropped by the kernel, " + std::to_string(st.ps_ifdrop) +
               " dropped by the interface");
  }

 private:
  static void on_packet(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
    auto* self = static_cast<PcapSource*>(static_cast<void*>(user));  // our pointer, given back
    std::uint8_t rh[16];
    protocol::store_le32(rh, static_cast<std::uint32_t>(h->ts.tv_sec));
    protocol::store_le32(rh + 4, static_cast<std::uint32_t>(h->ts.tv_usec));
    protocol::store_le32(rh + 8, h->caplen);
    protocol::store_le32(rh + 12, h->len);
    self->pending_.insert(self->pending_.end(), rh, rh + sizeof rh);
    self->pending_.insert(self->pending_.end(), bytes, bytes + h->caplen);
  }

  pcap_t* pcap_ = nullptr;
  int fd_ = -1;
  int stop_fd_;
  std::string iface_;
  std::vector<std::uint8_t> pending_;
  std::size_t offset_ = 0;
  int waited_ = 0;
};

}  // namespace

std::unique_ptr<Source> make_pcap_source(const Settings& settings, int stop_fd) {
  return std::make_unique<PcapSource>(settings, stop_fd);
}

}  // namespace d4::client
