// Record reassembly: every way of cutting a stream into packets gives the same records.
#include <gtest/gtest.h>

#include <random>

#include "support/bytes.hpp"
#include "workers/archive.hpp"
#include "workers/records.hpp"
#include "workers/worker_fixture.hpp"

namespace d4::workers {
namespace {

std::vector<std::string> random_cuts(const std::string& data, std::mt19937& rng, std::size_t max_piece) {
  std::vector<std::string> out;
  std::uniform_int_distribution<std::size_t> d(1, max_piece);
  for (std::size_t i = 0; i < data.size();) {
    std::size_t n = std::min(d(rng), data.size() - i);
    out.push_back(data.substr(i, n));
    i += n;
  }
  return out;
}

TEST(LineSplitter, SameRecordsForEveryCutAndStateRoundTrip) {
  std::string text = "alpha\nbeta\n\ngamma delta\nlast-without-newline";
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    LineSplitter s(1000);
    std::vector<std::string> got;
    auto emit = [&](std::string_view r) { got.emplace_back(r); };
    auto over = [&](std::size_t) { ADD_FAILURE(); };
    for (const auto& piece : random_cuts(text, rng, 6)) {
      // Save and restore between pieces, as a restarted worker would.
      Fields f;
      s.save(f, "x_");
      LineSplitter restored(1000);
      restored.load(f, "x_");
      s = restored;
      s.feed(piece, emit, over);
    }
    s.finish(emit, over);
    EXPECT_EQ(got, (std::vector<std::string>{"alpha", "beta", "", "gamma delta", "last-without-newline"}));
  }
}

TEST(LineSplitter, OversizedRecordIsReportedOnceAndFollowingRecordsSurvive) {
  LineSplitter s(10);
  std::vector<std::string> got;
  std::vector<std::size_t> dropped;
  auto emit = [&](std::string_view r) { got.emplace_back(r); };
  auto over = [&](std::size_t n) { dropped.push_back(n); };
  s.feed("ok\n0123456789", emit, over);
  s.feed("abcdef", emit, over);
  s.feed("ghij\nfine\n", emit, over);
  EXPECT_EQ(got, (std::vector<std::string>{"ok", "fine"}));
  EXPECT_EQ(dropped, (std::vector<std::size_t>{20}));
  EXPECT_LE(s.buffered(), 10u);
}

std::string pcap_header(std::uint32_t magic, std::uint32_t snaplen, bool swap) {
  auto sw32 = [&](std::uint32_t v) { return swap ? __builtin_bswap32(v) : v; };
  auto sw16 = [&](std::uint16_t v) { return swap ? __builtin_bswap16(v) : v; };
  std::string h(24, '\0');
  std::uint32_t m = sw32(magic), sl = sw32(snaplen), lt = sw32(1);
  std::uint16_t major = sw16(2), minor = sw16(4);
  std::memcpy(h.data(), &m, 4);
  std::memcpy(h.data() + 4, &major, 2);
  std::memcpy(h.data() + 6, &minor, 2);
  std::memcpy(h.data() + 16, &sl, 4);
  std::memcpy(h.data() + 20, &lt, 4);
  return h;
}

std::string pcap_record(std::uint32_t frac, std::uint32_t caplen, std::uint32_t len, bool swap, char fill) {
  auto sw32 = [&](std::uint32_t v) { return swap ? __builtin_bswap32(v) : v; };
  std::string r(16, '\0');
  std::uint32_t f = sw32(frac), c = sw32(caplen), l = sw32(len);
  std::memcpy(r.data() + 4, &f, 4);
  std::memcpy(r.data() + 8, &c, 4);
  std::memcpy(r.data() + 12, &l, 4);
  return r + std::string(caplen, fill);
}

TEST(PcapReassembler, VectorRecordsForEveryCut) {
  auto v = test::read_file(test::vector_path("dns.pcap"));
  std::string pcap(v.begin(), v.end());
  std::mt19937 rng(3);
  for (std::size_t max_piece : {1u, 3u, 17u, 100u, 4096u}) {
    PcapReassembler r(1 << 20);
    std::string rebuilt;
    int headers = 0;
    for (const auto& piece : random_cuts(pcap, rng, max_piece)) {
      ASSERT_TRUE(r.feed(
          piece,
          [&](std::string_view h) {
            ++headers;
            rebuilt.append(h);
          },
          [&](std::string_view rec) { rebuilt.append(rec); }))
          << r.error();
    }
    EXPECT_EQ(headers, 1);
    EXPECT_EQ(r.records(), 120u);
    EXPECT_EQ(rebuilt, pcap);
    EXPECT_EQ(r.buffered(), 0u);
  }
}

TEST(PcapReassembler, AcceptsNanosecondAndSwappedVariants) {
  for (bool swap : {false, true}) {
    for (std::uint32_t magic : {0xa1b2c3d4u, 0xa1b23c4du}) {
      std::uint32_t frac = magic == 0xa1b23c4du ? 999'999'999u : 999'999u;
      std::string s = pcap_header(magic, 100, swap) + pcap_record(frac, 50, 60, swap, 'a') +
                      pcap_record(0, 100, 100, swap, 'b');
      PcapReassembler r(1 << 20);
      int n = 0;
      EXPECT_TRUE(r.feed(
          s, [](std::string_view) {}, [&](std::string_view) { ++n; }))
          << r.error();
      EXPECT_EQ(n, 2);
    }
  }
}

TEST(PcapReassembler, RejectsBrokenHeadersWithAReason) {
  struct Case {
    std::string data, reason;
  } cases[] = {
      {std::string("\x0a\x0d\x0d\x0a", 4) + std::string(20, '\0'), "not a libpcap stream"},
      {pcap_header(0xa1b2c3d4, 0, false), "snaplen 0"},
      {pcap_header(0xa1b2c3d4, 100, false) + pcap_record(0, 101, 101, false, 'x'), "exceeds snaplen"},
      {pcap_header(0xa1b2c3d4, 100, false) + pcap_record(1'000'000, 10, 10, false, 'x'), "out of range"},
      {pcap_header(0xa1b2c3d4, 100, false) + pcap_record(0, 10, 5, false, 'x'), "below captured length"},
  };
  for (const auto& c : cases) {
    PcapReassembler r(1 << 20);
    EXPECT_FALSE(r.feed(
        c.data, [](std::string_view) {}, [](std::string_view) {}));
    EXPECT_NE(r.error().find(c.reason), std::string::npos) << r.error();
    EXPECT_FALSE(r.feed(
        "more", [](std::string_view) {}, [](std::string_view) {}));  // sticky
  }
}

TEST(PcapReassembler, StateRoundTripMidRecord) {
  std::string s = pcap_header(0xa1b2c3d4, 100, false) + pcap_record(0, 80, 80, false, 'q');
  PcapReassembler a(1 << 20);
  a.feed(
      s.substr(0, 50), [](std::string_view) {}, [](std::string_view) {});
  Fields f;
  a.save(f, "p_");
  PcapReassembler b(1 << 20);
  b.load(f, "p_");
  std::string rec;
  EXPECT_TRUE(b.feed(
      s.substr(50), [](std::string_view) {}, [&](std::string_view r) { rec = r; }));
  EXPECT_EQ(rec, s.substr(24));
}

TEST(DnscapSplitter, BlocksStartAtBracketLines) {
  DnscapSplitter d(1000);
  std::vector<std::string> got;
  auto emit = [&](std::string_view r) { got.emplace_back(r); };
  auto over = [&](std::size_t) {};
  d.feed("[1] a\n  b\n[2", emit, over);
  d.feed("] c\n", emit, over);
  d.finish(emit, over);
  EXPECT_EQ(got, (std::vector<std::string>{"[1] a\n  b", "[2] c"}));
}

TEST(ArchiveFile, ReopenTruncatesToTheCommittedOffset) {
  test::TempDir dir;
  auto p = dir / "a" / "f.txt";
  {
    ArchiveFile f;
    f.create(p, 0);
    f.write("committed\n");
    f.flush();
    f.write("not committed");
  }
  ArchiveFile f;
  f.reopen(p, 10, 0);
  f.write("more\n");
  f.close();
  EXPECT_EQ(test::read_all(p), "committed\nmore\n");
}

TEST(ArchiveFile, CompressionIsIdempotentAndFileNamesNeverCollide) {
  test::TempDir dir;
  auto p = dir / "x.cap";
  test::write_text(p, std::string(100000, 'z'));
  auto gz = compress_file(p, Compression::Gzip, 6);
  EXPECT_EQ(gz, dir / "x.cap.gz");
  EXPECT_FALSE(std::filesystem::exists(p));
  EXPECT_EQ(compress_file(p, Compression::Gzip, 6), gz);  // redone after an interruption
  EXPECT_EQ(test::gunzip_file(gz), std::string(100000, 'z'));
  auto a = fresh_file_name(dir.path(), "s", 1700000000, true, ".cap");
  test::write_text(a, "");
  auto b = fresh_file_name(dir.path(), "s", 1700000000, true, ".cap");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.filename(), "s-2023-11-14-221320.cap");
}

}  // namespace
}  // namespace d4::workers
