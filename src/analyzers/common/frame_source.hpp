#pragma once
// Frame iteration shared by the analyzers' file, queue and live modes. Capture errors (unreadable
// file, corrupt or truncated capture) are logged and counted, never fatal: the frames read before
// the error are processed and the analyzer moves on to its next input.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/live_capture.hpp"

namespace d4::analyzers {

struct CaptureStats {
  std::uint64_t files = 0;
  std::uint64_t frames = 0;
  std::uint64_t unreadable_files = 0;  // could not be opened or are not captures
  std::uint64_t corrupt_files = 0;     // ended with a format error
  std::uint64_t truncated_files = 0;   // ended in the middle of a record
};

using FrameHandler = std::function<void(const packet::Frame&)>;

// Reads one capture file ("-" for stdin). Returns false when the file could not be read at all.
bool for_each_frame_in_file(const std::string& path, const FrameHandler& handler, CaptureStats& stats,
                            const std::atomic<bool>& stop);

// Captures until `stop` is set; `on_idle` runs at every read timeout (periodic flushes).
// Throws packet::CaptureError if the interface cannot be opened.
void for_each_live_frame(const packet::LiveCapture::Options& options, const FrameHandler& handler,
                         const std::function<void()>& on_idle, CaptureStats& stats,
                         const std::atomic<bool>& stop);

}  // namespace d4::analyzers
