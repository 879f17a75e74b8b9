#include "analyzers/common/frame_source.hpp"

#include <spdlog/spdlog.h>

namespace d4::analyzers {

bool for_each_frame_in_file(const std::string& path, const FrameHandler& handler, CaptureStats& stats,
                            const std::atomic<bool>& stop) {
  ++stats.files;
  try {
    auto reader = packet::CaptureReader::open(path);
    packet::Frame frame;
    while (!stop.load(std::memory_order_relaxed) && reader.next(frame)) {
      ++stats.frames;
      handler(frame);
    }
    if (!reader.error().empty()) {
      if (reader.truncated()) {
        ++stats.truncated_files;
        spdlog::warn("{} (after {} frames)", reader.error(), reader.frames());
      } else {
        ++stats.corrupt_files;
        spdlog::error("{} (after {} frames)", reader.error(), reader.frames());
      }
    }
    return true;
  } catch (const packet::CaptureError& e) {
    ++stats.unreadable_files;
    spdlog::error("{}", e.what());
    return false;
  }
}

void for_each_live_frame(const packet::LiveCapture::Options& options, const FrameHandler& handler,
                         const std::function<void()>& on_idle, CaptureStats& stats,
                         const std::atomic<bool>& stop) {
  packet::LiveCapture capture(options);
  spdlog::info("capturing on {} (link type {}){}", options.interface, capture.linktype(),
               options.bpf_filter.empty() ? "" : " filter: " + options.bpf_filter);
  if (options.after_open) options.after_open();
  packet::Frame frame;
  auto last_idle = std::chrono::steady_clock::now();
  while (!stop.load(std::memory_order_relaxed)) {
    auto r = capture.next(frame);
    if (r == packet::LiveCapture::Result::Packet) {
      ++stats.frames;
      handler(frame);
    } else if (r == packet::LiveCapture::Result::Error) {
      throw packet::CaptureError(options.interface + ": " + capture.error());
    } else if (r == packet::LiveCapture::Result::End) {
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (r == packet::LiveCapture::Result::Timeout || now - last_idle > std::chrono::seconds(1)) {
      if (on_idle) on_idle();
      last_idle = now;
    }
  }
  if (auto dropped = capture.dropped())
    spdlog::warn("{}: {} packets dropped by the kernel", options.interface, dropped);
}

}  // namespace d4::analyzers
