#pragma once
// dnscap's text output (`dnscap -g`, D4 type 4): one message per record, continuation lines
// ending with a backslash (shown as <bs> here), e.g.
//   [76] 2023-11-14 22:13:20.010000 [#1 eth0 0] <bs>
//   	[198.51.100.53].53 [192.0.2.10].40000 <bs>
//   	dns QUERY,NOERROR,1,qr|aa|rd|ra <bs>
//   	1 www.example.org,IN,A <bs>
//   	1 www.example.org,IN,A,300,93.184.216.34 0 0
// Answers of responses become records (A, AAAA, NS, PTR, CNAME, MX and SOA are the types dnscap
// renders; others appear as "[rdlen]" and are counted as unrendered).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "analyzers/pdns/record.hpp"

namespace d4::analyzers::pdns {

struct DnscapStats {
  std::uint64_t messages = 0;
  std::uint64_t responses = 0;
  std::uint64_t records = 0;
  std::uint64_t malformed = 0;   // records whose structure could not be parsed
  std::uint64_t unrendered = 0;  // answers dnscap printed without data
};

class DnscapParser {
 public:
  using Sink = std::function<void(PdnsRecord&&)>;
  // Receives every malformed message or record with a reason, for counting and sampling.
  using RejectSink = std::function<void(std::string_view reason, std::string_view text)>;
  explicit DnscapParser(Sink sink, NormalizeOptions normalize = {}, RejectSink on_reject = nullptr)
      : sink_(std::move(sink)), normalize_(normalize), on_reject_(std::move(on_reject)) {}

  // Feeds text in arbitrary chunks; complete messages are parsed as they end.
  void feed(std::string_view text);
  // Parses a message still buffered (end of input).
  void finish();
  const DnscapStats& stats() const { return stats_; }

 private:
  void parse_message(std::string_view message);
  void on_line(std::string_view line);
  void malformed(std::string_view reason, std::string_view text);

  Sink sink_;
  NormalizeOptions normalize_;
  RejectSink on_reject_;
  std::string partial_line_;
  std::string message_;
  DnscapStats stats_;
};

}  // namespace d4::analyzers::pdns
