#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstring>
#include <random>

#include "protocol/encoder.hpp"
#include "protocol/framer.hpp"

using namespace d4::protocol;

namespace {

const Uuid kUuid = *Uuid::parse("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01");
const char* kKey = "d4-test-key";

struct Built {
  std::vector<std::uint8_t> stream;
  std::vector<std::vector<std::uint8_t>> payloads;
};

Built build_stream(const std::vector<std::vector<std::uint8_t>>& payloads, std::uint8_t type = 1) {
  PacketEncoder enc(1, type, kUuid, kKey);
  Built b;
  b.payloads = payloads;
  for (std::size_t i = 0; i < payloads.size(); ++i) enc.append_packet(b.stream, payloads[i], 1700000000 + i);
  return b;
}

// Feeds `stream` split at the given cut points and collects every packet payload.
std::vector<std::vector<std::uint8_t>> run(Framer& f, const std::vector<std::uint8_t>& stream,
                                           const std::vector<std::size_t>& cuts,
                                           Framer::Status* last = nullptr) {
  std::vector<std::vector<std::uint8_t>> got;
  std::size_t pos = 0;
  Framer::Status st = Framer::Status::NeedMore;
  auto drain = [&] {
    Packet p;
    while ((st = f.next(p)) == Framer::Status::Ready) got.emplace_back(p.payload.begin(), p.payload.end());
  };
  for (std::size_t cut : cuts) {
    cut = std::min(cut, stream.size());
    if (cut < pos) continue;
    f.feed({stream.data() + pos, cut - pos});
    pos = cut;
    drain();
    if (st == Framer::Status::Error) break;
  }
  if (st != Framer::Status::Error && pos < stream.size()) {
    f.feed({stream.data() + pos, stream.size() - pos});
    drain();
  }
  if (last) *last = st;
  return got;
}

}  // namespace

TEST(Framer, ManyPacketsInOneBuffer) {
  auto b = build_stream({{1, 2, 3}, {}, std::vector<std::uint8_t>(5000, 7), {9}});
  Framer f;
  f.set_key(HmacKey(kKey));
  auto got = run(f, b.stream, {});
  EXPECT_EQ(got, b.payloads);
  EXPECT_EQ(f.finish(), FrameError::None);
  EXPECT_EQ(f.packets(), 4u);
  EXPECT_EQ(f.bytes_consumed(), b.stream.size());
}

TEST(Framer, OneByteAtATime) {
  auto b = build_stream({std::vector<std::uint8_t>(300, 1), {2, 2}, {}, std::vector<std::uint8_t>(70, 3)});
  Framer f;
  f.set_key(HmacKey(kKey));
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i <= b.stream.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(run(f, b.stream, cuts), b.payloads);
  EXPECT_EQ(f.finish(), FrameError::None);
}

TEST(Framer, PendingHeaderAvailableBeforePayload) {
  auto b = build_stream({std::vector<std::uint8_t>(1000, 1)});
  Framer f;
  f.feed({b.stream.data(), 70});
  Packet p;
  EXPECT_EQ(f.next(p), Framer::Status::NeedMore);
  ASSERT_NE(f.pending_header(), nullptr);
  EXPECT_EQ(f.pending_header()->size, 1000u);
  EXPECT_EQ(f.pending_header()->uuid, kUuid);
  EXPECT_EQ(f.finish(), FrameError::Truncated);
}

TEST(Framer, ReportsEachHeaderErrorPrecisely) {
  auto base = build_stream({{1, 2, 3}});
  struct Case {
    std::size_t offset;
    std::uint8_t value;
    FrameError expected;
  } cases[] = {
      {0, 2, FrameError::BadVersion},       {1, 0, FrameError::UnknownType},
      {1, 9, FrameError::UnknownType},      {8, 0x14, FrameError::InvalidUuid},  // version nibble 1
      {10, 0x40, FrameError::InvalidUuid},                                       // variant 01xx
      {61, 0x01, FrameError::Oversized},                                         // size 16 MiB + 3
      {30, 0x00, FrameError::HmacMismatch},
  };
  for (const auto& c : cases) {
    auto s = base.stream;
    s[c.offset] = c.value;
    Framer f;
    f.set_key(HmacKey(kKey));
    Framer::Status st;
    auto got = run(f, s, {}, &st);
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(st, Framer::Status::Error);
    EXPECT_EQ(f.error(), c.expected) << "offset " << c.offset << ": " << f.error_detail();
    EXPECT_FALSE(f.error_detail().empty());
    // Sticky: more good data after an error never resynchronises silently.
    f.feed(base.stream);
    Packet p;
    EXPECT_EQ(f.next(p), Framer::Status::Error);
  }
}

TEST(Framer, MaxPayloadIsInclusiveAndConfigurable) {
  FramerOptions o;
  o.max_payload = 10;
  auto ok = build_stream({std::vector<std::uint8_t>(10, 1)});
  auto big = build_stream({std::vector<std::uint8_t>(11, 1)});
  Framer a(o), b(o);
  EXPECT_EQ(run(a, ok.stream, {}).size(), 1u);
  Framer::Status st;
  run(b, big.stream, {}, &st);
  EXPECT_EQ(b.error(), FrameError::Oversized);
  // The size check happens on the header alone, before the payload is buffered.
  Framer c(o);
  c.feed({big.stream.data(), kHeaderSize});
  Packet p;
  EXPECT_EQ(c.next(p), Framer::Status::Error);
}

TEST(Framer, WrongKeyIsRejected) {
  auto b = build_stream({{1}});
  Framer f;
  f.set_key(HmacKey("not the key"));
  Framer::Status st;
  run(f, b.stream, {}, &st);
  EXPECT_EQ(f.error(), FrameError::HmacMismatch);
}

TEST(Framer, LargePacketSplitIntoSmallReadsIsLinear) {
  // 1 MB payload fed 16 bytes at a time: must not re-copy the buffer per read.
  auto b = build_stream({std::vector<std::uint8_t>(1'000'000, 0x5a)});
  Framer f;
  f.set_key(HmacKey(kKey));
  std::size_t pos = 0;
  Packet p;
  int ready = 0;
  while (pos < b.stream.size()) {
    std::size_t n = std::min<std::size_t>(16, b.stream.size() - pos);
    auto w = f.prepare(n);
    std::memcpy(w.data(), b.stream.data() + pos, n);
    f.commit(n);
    pos += n;
    while (f.next(p) == Framer::Status::Ready) ++ready;
  }
  EXPECT_EQ(ready, 1);
}

TEST(Framer, DeclaredSizeCommitsNoMemoryOnlyReceivedBytesDo) {
  // A header declaring 1 MB followed by 100 bytes: the buffer holds what arrived, not what the
  // header announced (62 bytes from anyone must not commit a megabyte).
  auto b = build_stream({std::vector<std::uint8_t>(1'000'000, 0x3c)});
  Framer f;
  f.set_key(HmacKey(kKey));
  f.feed(std::span<const std::uint8_t>(b.stream.data(), kHeaderSize + 100));
  Packet p;
  EXPECT_EQ(f.next(p), Framer::Status::NeedMore);
  ASSERT_NE(f.pending_header(), nullptr);
  EXPECT_LE(f.capacity(), 4096u);
  // Growing with the data: never more than twice what arrived, never beyond the packet.
  std::size_t pos = kHeaderSize + 100;
  while (pos < b.stream.size()) {
    std::size_t n = std::min<std::size_t>(4096, b.stream.size() - pos);
    f.feed(std::span<const std::uint8_t>(b.stream.data() + pos, n));
    pos += n;
    EXPECT_LE(f.capacity(), std::max<std::size_t>(2 * f.buffered(), 4096)) << pos;
    EXPECT_LE(f.capacity(), b.stream.size()) << pos;
  }
  ASSERT_EQ(f.next(p), Framer::Status::Ready);
  EXPECT_EQ(p.payload.size(), 1'000'000u);
}

RC_GTEST_PROP(FramerProperty, RandomSplitsYieldTheSamePackets, ()) {
  auto sizes = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, 3000));
  std::vector<std::vector<std::uint8_t>> payloads;
  std::mt19937 rng(static_cast<unsigned>(sizes.size()));
  for (auto n : sizes) {
    std::vector<std::uint8_t> p(n);
    for (auto& x : p) x = static_cast<std::uint8_t>(rng());
    payloads.push_back(std::move(p));
  }
  auto b = build_stream(payloads);
  auto cuts =
      *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, b.stream.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  Framer f;
  f.set_key(HmacKey(kKey));
  RC_ASSERT(run(f, b.stream, cuts) == payloads);
  RC_ASSERT(f.finish() == FrameError::None);
}

RC_GTEST_PROP(FramerProperty, ConcatenatedStreamsParseAsOne, ()) {
  auto n1 = *rc::gen::inRange(0, 10);
  auto n2 = *rc::gen::inRange(0, 10);
  std::vector<std::vector<std::uint8_t>> p1(static_cast<std::size_t>(n1), std::vector<std::uint8_t>(100, 1));
  std::vector<std::vector<std::uint8_t>> p2(static_cast<std::size_t>(n2), std::vector<std::uint8_t>(33, 2));
  auto a = build_stream(p1), b = build_stream(p2);
  auto all = a.stream;
  all.insert(all.end(), b.stream.begin(), b.stream.end());
  auto expected = p1;
  expected.insert(expected.end(), p2.begin(), p2.end());
  Framer f;
  f.set_key(HmacKey(kKey));
  RC_ASSERT(run(f, all, {}) == expected);
}

RC_GTEST_PROP(FramerProperty, CorruptionIsDetectedNeverSilentlyAccepted, ()) {
  auto b = build_stream({std::vector<std::uint8_t>(200, 1), std::vector<std::uint8_t>(50, 2), {3}});
  auto pos = *rc::gen::inRange<std::size_t>(0, b.stream.size());
  auto mask = *rc::gen::inRange<int>(1, 256);
  auto s = b.stream;
  s[pos] ^= static_cast<std::uint8_t>(mask);
  Framer f;
  f.set_key(HmacKey(kKey));
  Framer::Status st;
  auto got = run(f, s, {}, &st);
  // Either the stream fails (with a reason), or - if a size field grew - it waits for more bytes;
  // a corrupted packet is never delivered as valid.
  RC_ASSERT(got.size() < 3u);
  for (std::size_t i = 0; i < got.size(); ++i) RC_ASSERT(got[i] == b.payloads[i]);
  if (st == Framer::Status::Error)
    RC_ASSERT(f.error() != FrameError::None);
  else
    RC_ASSERT(f.finish() == FrameError::Truncated);
}
