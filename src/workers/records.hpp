#pragma once
// Record reassembly across D4 packet boundaries: newline records (types 3, 6, 8, 254), dnscap
// blocks (type 4), libpcap records (type 1) and pcapng blocks (type 5). Each keeps only the
// incomplete tail of the stream (bounded) and can be saved to / restored from the session
// progress, so a restarted worker continues mid-record.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

namespace d4::workers {

using Fields = std::map<std::string, std::string>;  // a progress hash (binary-safe values)

// Splits a byte stream on '\n'. A record longer than max_record is dropped whole (its bytes up
// to the next '\n' are skipped) and reported through `oversized` with its size; the splitter
// resynchronises at the next newline.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_record) : max_(max_record) {}

  template <typename Emit, typename Oversized>
  void feed(std::string_view data, Emit&& emit, Oversized&& oversized) {
    std::size_t pos = 0;
    while (pos < data.size()) {
      std::size_t nl = data.find('\n', pos);
      if (nl == std::string_view::npos) {
        append_partial(data.substr(pos));
        return;
      }
      std::string_view piece = data.substr(pos, nl - pos);
      if (discarding_) {
        oversized(discarded_ + piece.size());
        discarding_ = false;
        discarded_ = 0;
      } else if (carry_.empty()) {
        if (piece.size() > max_)
          oversized(piece.size());
        else
          emit(piece);
      } else if (carry_.size() + piece.size() > max_) {
        oversized(carry_.size() + piece.size());
        carry_.clear();
      } else {
        carry_.append(piece);
        emit(std::string_view(carry_));
        carry_.clear();
      }
      pos = nl + 1;
    }
  }

  // End of stream: a last record without '\n' is still a record.
  template <typename Emit, typename Oversized>
  void finish(Emit&& emit, Oversized&& oversized) {
    if (discarding_)
      oversized(discarded_);
    else if (!carry_.empty())
      emit(std::string_view(carry_));
    carry_.clear();
    discarding_ = false;
    discarded_ = 0;
  }

  std::size_t buffered() const { return carry_.size(); }
  void save(Fields& f, const std::string& prefix) const;
  void load(const Fields& f, const std::string& prefix);

 private:
  void append_partial(std::string_view s) {
    if (discarding_) {
      discarded_ += s.size();
    } else if (carry_.size() + s.size() > max_) {
      discarding_ = true;
      discarded_ = carry_.size() + s.size();
      carry_.clear();
    } else {
      carry_.append(s);
    }
  }

  std::size_t max_;
  std::string carry_;
  bool discarding_ = false;
  std::size_t discarded_ = 0;
};

// dnscap text output: a message starts with a line beginning with '['; the record is that line
// and the following ones up to the next '[' line (joined with '\n', no trailing newline).
class DnscapSplitter {
 public:
  explicit DnscapSplitter(std::size_t max_record) : lines_(max_record), max_(max_record) {}

  template <typename Emit, typename Oversized>
  void feed(std::string_view data, Emit&& emit, Oversized&& oversized) {
    lines_.feed(
        data, [&](std::string_view line) { on_line(line, emit, oversized); },
        [&](std::size_t n) { on_oversized_line(n, oversized); });
  }
  template <typename Emit, typename Oversized>
  void finish(Emit&& emit, Oversized&& oversized) {
    lines_.finish([&](std::string_view line) { on_line(line, emit, oversized); },
                  [&](std::size_t n) { on_oversized_line(n, oversized); });
    flush_block(emit, oversized);
  }
  void save(Fields& f, const std::string& prefix) const;
  void load(const Fields& f, const std::string& prefix);

 private:
  template <typename Emit, typename Oversized>
  void flush_block(Emit& emit, Oversized& oversized) {
    if (skipping_)
      oversized(skipped_);
    else if (!block_.empty())
      emit(std::string_view(block_));
    block_.clear();
    skipping_ = false;
    skipped_ = 0;
  }
  template <typename Emit, typename Oversized>
  void on_line(std::string_view line, Emit& emit, Oversized& oversized) {
    if (!line.empty() && line.front() == '[')
      flush_block(emit, oversized);
    else if (line.empty() && block_.empty() && !skipping_)
      return;  // blank lines between messages
    if (skipping_) {
      skipped_ += line.size() + 1;
    } else if (block_.size() + line.size() + 1 > max_) {
      skipping_ = true;
      skipped_ = block_.size() + line.size() + 1;
      block_.clear();
    } else {
      if (!block_.empty()) block_ += '\n';
      block_.append(line);
    }
  }
  template <typename Oversized>
  void on_oversized_line(std::size_t n, Oversized& /*oversized*/) {
    // A single oversized line poisons the block it belongs to.
    skipping_ = true;
    skipped_ += block_.size() + n;
    block_.clear();
  }

  LineSplitter lines_;
  std::size_t max_;
  std::string block_;
  bool skipping_ = false;
  std::size_t skipped_ = 0;
};

// A libpcap (2.4) stream: validates the global header and every record header and hands out
// whole records (16-byte header + data), reassembled across packet boundaries.
class PcapReassembler {
 public:
  explicit PcapReassembler(std::uint32_t max_snaplen) : max_snaplen_(max_snaplen) {}

  // on_header(std::string_view 24 bytes) once, on_record(std::string_view) per record. Returns
  // false at the first invalid byte; error() says why. After an error nothing is accepted.
  template <typename OnHeader, typename OnRecord>
  bool feed(std::string_view data, OnHeader&& on_header, OnRecord&& on_record);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  bool has_global_header() const { return !global_.empty(); }
  const std::string& global_header() const { return global_; }
  std::size_t buffered() const { return carry_.size(); }
  std::uint64_t records() const { return records_; }
  void save(Fields& f, const std::string& prefix) const;
  void load(const Fields& f, const std::string& prefix);

 private:
  bool parse_global(std::string_view h);
  // Returns the record's captured length, or nullopt (error set) when the header is invalid.
  bool check_record(std::string_view h, std::uint32_t& caplen);
  std::uint32_t u32(const char* p) const;

  std::uint32_t max_snaplen_;
  std::string global_;
  std::string carry_;
  std::string error_;
  bool swapped_ = false;
  bool nanos_ = false;
  std::uint32_t snaplen_ = 0;
  std::uint64_t records_ = 0;
};

// A pcapng stream: validates block framing (type, total length, trailing length, byte order
// from each Section Header Block) and hands out whole blocks.
class PcapngReassembler {
 public:
  enum class BlockKind { SectionHeader, InterfaceDescription, Other };
  explicit PcapngReassembler(std::uint32_t max_block) : max_block_(max_block) {}

  template <typename OnBlock>
  bool feed(std::string_view data, OnBlock&& on_block);  // on_block(std::string_view, BlockKind)

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t buffered() const { return carry_.size(); }
  void save(Fields& f, const std::string& prefix) const;
  void load(const Fields& f, const std::string& prefix);

 private:
  // Total length of the block starting at p (needs 12 bytes), or 0 with error_ set.
  std::uint32_t block_length(const char* p, bool& is_shb);

  std::uint32_t max_block_;
  std::string carry_;
  std::string error_;
  bool started_ = false;
  bool swapped_ = false;
};

// ---- template definitions ----

template <typename OnHeader, typename OnRecord>
bool PcapReassembler::feed(std::string_view data, OnHeader&& on_header, OnRecord&& on_record) {
  if (failed()) return false;
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (global_.empty()) {
      std::size_t take = std::min<std::size_t>(24 - carry_.size(), data.size() - pos);
      carry_.append(data.substr(pos, take));
      pos += take;
      if (carry_.size() < 24) return true;
      if (!parse_global(carry_)) return false;
      global_ = carry_;
      carry_.clear();
      on_header(std::string_view(global_));
      continue;
    }
    if (!carry_.empty()) {
      if (carry_.size() < 16) {
        std::size_t take = std::min<std::size_t>(16 - carry_.size(), data.size() - pos);
        carry_.append(data.substr(pos, take));
        pos += take;
        if (carry_.size() < 16) return true;
      }
      std::uint32_t caplen = 0;
      if (!check_record(carry_, caplen)) return false;
      std::size_t need = 16 + std::size_t{caplen};
      std::size_t take = std::min<std::size_t>(need - carry_.size(), data.size() - pos);
      carry_.append(data.substr(pos, take));
      pos += take;
      if (carry_.size() < need) return true;
      ++records_;
      on_record(std::string_view(carry_));
      carry_.clear();
      continue;
    }
    std::size_t avail = data.size() - pos;
    if (avail < 16) {
      carry_.assign(data.substr(pos));
      return true;
    }
    std::uint32_t caplen = 0;
    if (!check_record(data.substr(pos, 16), caplen)) return false;
    std::size_t need = 16 + std::size_t{caplen};
    if (avail < need) {
      carry_.assign(data.substr(pos));
      return true;
    }
    ++records_;
    on_record(data.substr(pos, need));
    pos += need;
  }
  return true;
}

template <typename OnBlock>
bool PcapngReassembler::feed(std::string_view data, OnBlock&& on_block) {
  if (failed()) return false;
  std::size_t pos = 0;
  auto emit = [&](std::string_view block, bool is_shb) {
    std::uint32_t type = 0;
    std::memcpy(&type, block.data(), 4);
    if (swapped_) type = __builtin_bswap32(type);
    BlockKind kind = is_shb      ? BlockKind::SectionHeader
                     : type == 1 ? BlockKind::InterfaceDescription
                                 : BlockKind::Other;
    on_block(block, kind);
  };
  while (pos < data.size()) {
    if (!carry_.empty() || data.size() - pos < 12) {
      if (carry_.size() < 12) {
        std::size_t take = std::min<std::size_t>(12 - carry_.size(), data.size() - pos);
        carry_.append(data.substr(pos, take));
        pos += take;
        if (carry_.size() < 12) return true;
      }
      bool is_shb = false;
      std::uint32_t len = block_length(carry_.data(), is_shb);
      if (len == 0) return false;
      std::size_t take = std::min<std::size_t>(len - carry_.size(), data.size() - pos);
      carry_.append(data.substr(pos, take));
      pos += take;
      if (carry_.size() < len) return true;
      std::uint32_t trailer = 0;
      std::memcpy(&trailer, carry_.data() + len - 4, 4);
      if (swapped_) trailer = __builtin_bswap32(trailer);
      if (trailer != len) {
        error_ = "pcapng block trailing length " + std::to_string(trailer) + " differs from " +
                 std::to_string(len);
        return false;
      }
      emit(carry_, is_shb);
      carry_.clear();
      continue;
    }
    bool is_shb = false;
    std::uint32_t len = block_length(data.data() + pos, is_shb);
    if (len == 0) return false;
    if (data.size() - pos < len) {
      carry_.assign(data.substr(pos));
      return true;
    }
    std::uint32_t trailer = 0;
    std::memcpy(&trailer, data.data() + pos + len - 4, 4);
    if (swapped_) trailer = __builtin_bswap32(trailer);
    if (trailer != len) {
      error_ =
          "pcapng block trailing length " + std::to_string(trailer) + " differs from " + std::to_string(len);
      return false;
    }
    emit(data.substr(pos, len), is_shb);
    pos += len;
  }
  return true;
}

}  // namespace d4::workers
