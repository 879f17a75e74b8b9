// Runs the analyzers' fuzz entries in every build (without libFuzzer): the vector corpus (DNS
// payloads of dns.pcap, TCP payloads of tls.pcap, whole captures and text inputs), every
// truncation of a few samples, and seeded random mutations. Sanitizer builds turn any
// out-of-bounds read into a failure.
#include <gtest/gtest.h>

#include <random>

#include "analyzers/packet/capture_reader.hpp"
#include "analyzers/packet/decode.hpp"
#include "fuzz_entries.hpp"
#include "support/bytes.hpp"

using d4::test::read_file;
using d4::test::vector_path;

namespace {

std::vector<std::vector<std::uint8_t>> payloads(const std::string& capture) {
  std::vector<std::vector<std::uint8_t>> out;
  auto bytes = read_file(vector_path(capture));
  auto r = d4::analyzers::packet::CaptureReader::from_memory(bytes);
  d4::analyzers::packet::Frame f;
  d4::analyzers::packet::Packet p;
  while (r.next(f))
    if (d4::analyzers::packet::decode(f.linktype, f.bytes(), p) == d4::analyzers::packet::DecodeStatus::Ok &&
        !p.payload.empty())
      out.emplace_back(p.payload.begin(), p.payload.end());
  return out;
}

void mutate_and_run(int (*entry)(const std::uint8_t*, std::size_t),
                    const std::vector<std::vector<std::uint8_t>>& corpus, int rounds, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (const auto& c : corpus) entry(c.data(), c.size());
  for (int i = 0; i < rounds; ++i) {
    auto in = corpus[rng() % corpus.size()];
    if (in.empty()) continue;
    switch (rng() % 4) {
      case 0:  // flip bytes
        for (int k = 1 + static_cast<int>(rng() % 6); k > 0; --k)
          in[rng() % in.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
        break;
      case 1:  // truncate
        in.resize(rng() % in.size());
        break;
      case 2:  // interesting values at a random place (lengths, pointers)
        for (int k = 0; k < 2 && in.size() > 2; ++k) {
          std::size_t at = rng() % (in.size() - 1);
          static const std::uint8_t vals[] = {0x00, 0xff, 0xc0, 0x7f, 0x80, 0x3f};
          in[at] = vals[rng() % 6];
        }
        break;
      default:  // splice two inputs
        const auto& other = corpus[rng() % corpus.size()];
        in.insert(in.begin() + static_cast<std::ptrdiff_t>(rng() % in.size()), other.begin(),
                  other.begin() + static_cast<std::ptrdiff_t>(other.size() / 2));
    }
    entry(in.data(), in.size());
  }
}

}  // namespace

TEST(FuzzCorpus, DnsEntry) {
  auto corpus = payloads("dns.pcap");
  ASSERT_EQ(corpus.size(), 120u);
  auto csv = read_file(vector_path("dns.passivedns.csv"));
  corpus.push_back(csv);
  auto cof = read_file(vector_path("dns.expected-records.ndjson"));
  corpus.push_back(cof);
  for (const auto& c : std::vector<std::vector<std::uint8_t>>(corpus.begin(), corpus.begin() + 4))
    for (std::size_t n = 0; n <= c.size(); ++n) d4_fuzz_dns(c.data(), n);
  mutate_and_run(d4_fuzz_dns, corpus, 20000, 20261125);
  SUCCEED();
}

TEST(FuzzCorpus, TlsEntry) {
  std::vector<std::vector<std::uint8_t>> corpus;
  for (auto& p : payloads("tls.pcap")) {
    for (int sel : {0, 0x11, 0xf3}) {
      std::vector<std::uint8_t> in{static_cast<std::uint8_t>(sel)};
      in.insert(in.end(), p.begin(), p.end());
      corpus.push_back(std::move(in));
    }
  }
  ASSERT_FALSE(corpus.empty());
  for (const char* capture : {"tls.pcap", "dns.pcap"}) {
    auto whole = read_file(vector_path(capture));
    std::vector<std::uint8_t> in{1};
    in.insert(in.end(), whole.begin(), whole.end());
    corpus.push_back(std::move(in));
  }
  for (std::size_t n = 0; n <= corpus[3].size(); ++n) d4_fuzz_tls(corpus[3].data(), n);
  mutate_and_run(d4_fuzz_tls, corpus, 20000, 4242);
  SUCCEED();
}
