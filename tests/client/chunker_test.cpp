// Record-aware chunking: whole pcap records and lines per payload, splitting of oversized units,
// boundary flags, fallback for input that is not pcap.
#include <gtest/gtest.h>

#include "client/chunker.hpp"
#include "client/spool.hpp"
#include "client_test_util.hpp"

using namespace d4::client;
using namespace d4::test;

namespace {

struct Piece {
  std::vector<std::uint8_t> bytes;
  std::uint32_t flags;
};

struct Collector {
  std::vector<Piece> pieces;
  Chunker::Emit emit() {
    return [this](std::span<const std::uint8_t> p, std::uint32_t f) {
      pieces.push_back({{p.begin(), p.end()}, f});
    };
  }
  std::vector<std::uint8_t> all() const {
    std::vector<std::uint8_t> out;
    for (auto& p : pieces) out.insert(out.end(), p.bytes.begin(), p.bytes.end());
    return out;
  }
};

bool boundary(const Piece& p) {
  return p.flags & PacketDesc::kBoundary;
}

}  // namespace

TEST(Chunker, PcapRecordsArePackedWhole) {
  auto pcap = read_file(vector_path("dns.pcap"));
  auto records = pcap_records(pcap);
  Collector c;
  Chunker ch(Chunker::Mode::Pcap, 4096, c.emit());
  // Feed in awkward pieces: one byte, then 1000-byte slices.
  ch.feed({pcap.data(), 1});
  for (std::size_t o = 1; o < pcap.size(); o += 1000)
    ch.feed({pcap.data() + o, std::min<std::size_t>(1000, pcap.size() - o)});
  ch.flush();
  EXPECT_EQ(c.all(), pcap);
  ASSERT_FALSE(c.pieces.empty());
  EXPECT_EQ(c.pieces[0].bytes.size(), 24u);
  EXPECT_TRUE(c.pieces[0].flags & PacketDesc::kStreamHeader);
  EXPECT_EQ(ch.pcap_header(), std::vector<std::uint8_t>(pcap.begin(), pcap.begin() + 24));
  // Every later payload is a sequence of whole records.
  std::size_t total_records = 0;
  for (std::size_t i = 1; i < c.pieces.size(); ++i) {
    auto& p = c.pieces[i];
    EXPECT_TRUE(boundary(p));
    EXPECT_LE(p.bytes.size(), 4096u);
    std::vector<std::uint8_t> as_pcap(pcap.begin(), pcap.begin() + 24);
    as_pcap.insert(as_pcap.end(), p.bytes.begin(), p.bytes.end());
    std::size_t n = 0;
    EXPECT_TRUE(is_valid_pcap(as_pcap, &n)) << "payload " << i << " is not whole records";
    total_records += n;
  }
  EXPECT_EQ(total_records, records.size());
}

TEST(Chunker, PcapRecordLargerThanSnaplenIsSplit) {
  auto pcap = read_file(vector_path("tls.pcap"));
  Collector c;
  Chunker ch(Chunker::Mode::Pcap, 128, c.emit());
  ch.feed(pcap);
  ch.flush();
  EXPECT_EQ(c.all(), pcap);
  bool saw_continuation = false;
  for (auto& p : c.pieces) {
    EXPECT_LE(p.bytes.size(), 128u);
    if (!boundary(p)) saw_continuation = true;
  }
  EXPECT_TRUE(saw_continuation);
  // Replaying from any boundary piece gives whole records.
  std::vector<std::uint8_t> from_boundary(pcap.begin(), pcap.begin() + 24);
  bool started = false;
  for (std::size_t i = 1; i < c.pieces.size(); ++i) {
    if (i > c.pieces.size() / 2 && boundary(c.pieces[i])) started = true;
    if (started)
      from_boundary.insert(from_boundary.end(), c.pieces[i].bytes.begin(), c.pieces[i].bytes.end());
  }
  EXPECT_TRUE(started);
  EXPECT_TRUE(is_valid_pcap(from_boundary));
}

TEST(Chunker, LinesArePackedAndLongLinesSplit) {
  std::string text = "short\n" + std::string(300, 'x') + "\nend of stream without newline";
  Collector c;
  Chunker ch(Chunker::Mode::Lines, 100, c.emit());
  ch.feed({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  EXPECT_EQ(ch.pending(), std::string("end of stream without newline").size()) << "partial line held back";
  ch.flush();
  auto all = c.all();
  EXPECT_EQ(std::string(all.begin(), all.end()), text);
  ASSERT_GE(c.pieces.size(), 5u);
  EXPECT_EQ(std::string(c.pieces[0].bytes.begin(), c.pieces[0].bytes.end()), "short\n");
  EXPECT_TRUE(boundary(c.pieces[0]));
  EXPECT_TRUE(boundary(c.pieces[1]));   // first piece of the long line
  EXPECT_FALSE(boundary(c.pieces[2]));  // its continuation
  for (auto& p : c.pieces) EXPECT_LE(p.bytes.size(), 100u);
}

TEST(Chunker, ManyLinesFillPayloads) {
  std::string text = make_lines(20000);
  Collector c;
  Chunker ch(Chunker::Mode::Lines, 4096, c.emit());
  ch.feed({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  ch.flush();
  auto all = c.all();
  EXPECT_EQ(std::string(all.begin(), all.end()), text);
  for (auto& p : c.pieces) {
    EXPECT_TRUE(boundary(p));
    EXPECT_EQ(p.bytes.back(), '\n');
    EXPECT_GT(p.bytes.size(), 3900u * (&p != &c.pieces.back()));
  }
}

TEST(Chunker, NotPcapFallsBackToRaw) {
  std::string text = "this is not a pcap file at all, just text\n";
  Collector c;
  Chunker ch(Chunker::Mode::Pcap, 16 * 1024, c.emit());
  ch.feed({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  ch.flush();
  auto all = c.all();
  EXPECT_EQ(std::string(all.begin(), all.end()), text);
  EXPECT_EQ(ch.mode(), Chunker::Mode::Raw);
  EXPECT_TRUE(ch.pcap_header().empty());
}

TEST(Chunker, EndlessLineStillGetsBoundaries) {
  std::string text(3 * Chunker::kMaxUnit, 'z');
  Collector c;
  Chunker ch(Chunker::Mode::Lines, 65536, c.emit());
  ch.feed({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  ch.flush();
  int boundaries = 0;
  for (auto& p : c.pieces) boundaries += boundary(p);
  EXPECT_GE(boundaries, 3) << "a stream without newlines must not pin the spool";
}
