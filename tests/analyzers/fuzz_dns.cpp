// Fuzz target: DNS message parsing and rendering, and the passive DNS text parsers.
#include <string>
#include <vector>

#include "analyzers/pdns/cof_import.hpp"
#include "analyzers/pdns/dns_message.hpp"
#include "analyzers/pdns/dnscap_text.hpp"
#include "analyzers/pdns/passivedns_csv.hpp"
#include "fuzz_entries.hpp"

int d4_fuzz_dns(const std::uint8_t* data, std::size_t size) {
  using namespace d4::analyzers;
  std::span<const std::uint8_t> in(data, size);
  dns::Message m;
  if (m.parse(in) == dns::ParseStatus::Ok) {
    std::string out;
    for (const auto* section : {&m.answers(), &m.authority(), &m.additional()})
      for (const auto& rr : *section)
        for (auto style : {dns::RdataStyle::Passivedns, dns::RdataStyle::Presentation}) {
          out.clear();
          m.render_rdata(rr, style, out);
        }
  }
  for (std::size_t off = 0; off < size && off < 96; ++off) {
    std::string name;
    std::size_t next = 0;
    dns::read_name(in, off, name, next);
  }
  std::string_view text(reinterpret_cast<const char*>(data), size);
  pdns::PdnsRecord r;
  pdns::parse_passivedns_line(text, r);
  std::vector<pdns::PdnsRecord> recs;
  pdns::parse_cof_line(text, recs);
  pdns::DnscapParser cap([](pdns::PdnsRecord&&) {});
  cap.feed(text);
  cap.finish();
  return 0;
}

#ifdef D4_LIBFUZZER_MAIN
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return d4_fuzz_dns(data, size);
}
#endif
