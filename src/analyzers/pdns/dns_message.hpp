#pragma once
// DNS message parsing (RFC 1035 and successors) for passive DNS: header, questions and resource
// records with compressed names, and rendering of record data in presentation format.
//
// Safety: every read is bounds-checked against the message; compression pointers must point
// strictly before the start of the label run that contains them (so a name can never loop),
// names are limited to 255 wire octets, and the number of records parsed is bounded.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace d4::analyzers::dns {

enum class ParseStatus : std::uint8_t {
  Ok,
  Truncated,       // a field extends past the end of the message
  BadName,         // reserved label type, name too long, pointer loop or forward pointer
  TooManyRecords,  // more records than the configured bound
};
std::string_view to_string(ParseStatus s);

struct Header {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  bool qr() const { return flags & 0x8000; }
  std::uint8_t opcode() const { return static_cast<std::uint8_t>((flags >> 11) & 0x0F); }
  bool aa() const { return flags & 0x0400; }
  bool tc() const { return flags & 0x0200; }
  bool rd() const { return flags & 0x0100; }
  std::uint8_t rcode() const { return static_cast<std::uint8_t>(flags & 0x0F); }
};

struct Question {
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
};

struct ResourceRecord {
  std::string name;  // presentation form, lower case, no trailing dot ("." for the root)
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  std::uint32_t rdata_offset = 0;  // into the message
  std::uint16_t rdata_length = 0;
};

// How record data is rendered.
enum class RdataStyle : std::uint8_t {
  // What passivedns (gamelinux) logs and the reference analyzer stores, so that pcap-derived
  // records match existing databases: MX, SRV and SOA reduce to their target/primary name, TXT
  // strings are concatenated without quotes. Every other type uses Presentation.
  Passivedns,
  // Full zone-file presentation (MX "10 mx.example.org", TXT "\"a\" \"b\"", SOA with all fields...).
  Presentation,
};

struct ParseOptions {
  bool parse_authority_and_additional = true;
  std::size_t max_records = 4096;
};

class Message {
 public:
  // Parses `wire`, which must stay alive while the message is used (rdata is rendered from it).
  ParseStatus parse(std::span<const std::uint8_t> wire, const ParseOptions& options = {});

  const Header& header() const { return header_; }
  const std::vector<Question>& questions() const { return questions_; }
  const std::vector<ResourceRecord>& answers() const { return answers_; }
  const std::vector<ResourceRecord>& authority() const { return authority_; }
  const std::vector<ResourceRecord>& additional() const { return additional_; }

  // Renders the record data. Returns false when the data does not match its type's format; `out`
  // then holds the RFC 3597 generic form ("\# <len> <hex>"), which is also used for unknown types.
  bool render_rdata(const ResourceRecord& rr, RdataStyle style, std::string& out) const;

 private:
  ParseStatus parse_records(std::size_t& off, std::uint16_t count, std::vector<ResourceRecord>& out,
                            std::size_t& budget);
  std::span<const std::uint8_t> wire_;
  Header header_;
  std::vector<Question> questions_;
  std::vector<ResourceRecord> answers_, authority_, additional_;
};

// Reads the (possibly compressed) name at `offset` of `msg` into `out` (appended, presentation
// form, no trailing dot; "." for the root). `next` receives the offset just after the name as
// stored at `offset`.
ParseStatus read_name(std::span<const std::uint8_t> msg, std::size_t offset, std::string& out,
                      std::size_t& next, bool lowercase = true);

}  // namespace d4::analyzers::dns
