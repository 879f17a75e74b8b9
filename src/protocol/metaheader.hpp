#pragma once
// Meta header (type 2): one JSON object announcing the extended type of the type-254 data that
// follows on the same connection, e.g. {"type": "ja3-jl"}. It may span several type-2 packets.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace d4::protocol {

inline constexpr std::size_t kMaxMetaHeaderSize = 100'000;  // the Go client's limit
// Nesting deeper than this is refused: printing a JSON value recurses once per level, so a
// 100 KB header of nested arrays could otherwise exhaust a thread's stack wherever it is dumped.
inline constexpr int kMaxMetaHeaderDepth = 32;

struct MetaHeader {
  nlohmann::json json;  // the whole object (tags, options of the handler...)
  std::string type;     // extended type name, validated by is_valid_extended_type_name
};

// Extended type names become Redis key parts and directory names: 1..64 characters of
// [A-Za-z0-9._-], not starting with '.'.
bool is_valid_extended_type_name(std::string_view name);

// Parses a complete meta header. On failure returns nullopt and sets *error.
std::optional<MetaHeader> parse_meta_header(std::string_view text, std::string* error = nullptr);

// Reassembles a meta header spread over several type-2 payloads. Like the reference worker it
// ignores newline bytes between payloads; it finds the end of the top-level JSON value with a
// linear scan (strings and escapes aware), so feeding is O(total size). Every byte fed counts
// towards max_size, whitespace and newlines included: a header padded with megabytes of blanks
// is refused like any other oversized one.
class MetaHeaderAssembler {
 public:
  enum class State { Incomplete, Complete, Error };

  explicit MetaHeaderAssembler(std::size_t max_size = kMaxMetaHeaderSize) : max_size_(max_size) {}
  State feed(std::string_view payload);
  State state() const { return state_; }
  const MetaHeader& result() const { return result_; }
  const std::string& error() const { return error_; }
  // Bytes received after the end of the JSON object (ignored by the reference).
  std::size_t trailing_bytes() const { return trailing_; }
  // Bytes fed before the header completed or failed, all of them counted.
  std::size_t received() const { return received_; }

 private:
  std::size_t max_size_;
  std::string text_;
  State state_ = State::Incomplete;
  MetaHeader result_;
  std::string error_;
  int depth_ = 0;
  bool started_ = false;
  bool in_string_ = false;
  bool escape_ = false;
  std::size_t trailing_ = 0;
  std::size_t received_ = 0;
};

}  // namespace d4::protocol
