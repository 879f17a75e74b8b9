#pragma once
// Live capture through libpcap with a read timeout, so that callers can check their stop flag
// between packets instead of blocking forever in the kernel.
#include <cstdint>
#include <functional>
#include <string>

#include "analyzers/packet/capture_reader.hpp"

struct pcap;

namespace d4::analyzers::packet {

class LiveCapture {
 public:
  struct Options {
    std::string interface;
    std::string bpf_filter;  // empty: everything
    int snaplen = 262144;
    bool promiscuous = true;
    int timeout_ms = 200;
    int buffer_bytes = 16 << 20;
    // Runs once the interface is open and filtered, before the first packet is read: the
    // analyzers give up root there (capturing needs it, reading packets does not).
    std::function<void()> after_open;
  };
  enum class Result { Packet, Timeout, End, Error };

  explicit LiveCapture(const Options& options);  // throws CaptureError with libpcap's message
  ~LiveCapture();
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;

  Result next(Frame& frame);
  const std::string& error() const { return error_; }
  std::uint32_t linktype() const { return linktype_; }
  // Packets dropped by the kernel or the interface, as libpcap reports them.
  std::uint64_t dropped() const;

 private:
  pcap* handle_ = nullptr;
  std::uint32_t linktype_ = 0;
  std::uint64_t frames_ = 0;
  std::string error_;
  int fd_ = -1;
  int timeout_ms_ = 200;
};

}  // namespace d4::analyzers::packet
