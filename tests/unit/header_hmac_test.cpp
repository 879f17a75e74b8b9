#include <gtest/gtest.h>

#include <cstring>

#include "protocol/encoder.hpp"
#include "protocol/header.hpp"
#include "protocol/hmac.hpp"
#include "support/bytes.hpp"

using namespace d4::protocol;
using d4::test::from_hex;

namespace {
// Golden packets: recomputed from the reference clients' published hex dumps, key
// "private key to change" (docs: d4-clients-analyzers section 0.2).
struct Golden {
  const char* hex;
  std::uint8_t type;
  const char* uuid;
  std::uint64_t ts;
  const char* payload;
};
const Golden kGolden[] = {
    {"0101cd980d75dcf147dabb60aabe94fea6b2d37a1f6100000000"
     "e6d1f434d8daa2e05ca14dca5407ffd4c45d0522273afc8cb728a24b1b61f06a04000000626c6168",
     1, "cd980d75-dcf1-47da-bb60-aabe94fea6b2", 1629453011, "blah"},
    {"0101388b27e292b541ea8469a609097aea591cd6ee6000000000"
     "f671258167de74418124248e5bed9607f2d5ad54d617c1dfbe419d5ed04d31f906000000626c6168680a",
     1, "388b27e2-92b5-41ea-8469-a609097aea59", 1626265116, "blahh\n"},
    {"0101cd980d75dcf147dabb60aabe94fea6b2d37a1f6100000000"
     "4d80c710a007c49fbb1a250cb4dc228fc7b60c20204416d34be28716bc9e92bc00000000",
     1, "cd980d75-dcf1-47da-bb60-aabe94fea6b2", 1629453011, ""},
    {"0102cd980d75dcf147dabb60aabe94fea6b2d37a1f6100000000"
     "ef60cf272d37f03b4511d3f0b1ac72f77ead535cadf52c5b38de0458eaa448b0120000007b2274797065223a20226a61332d6a6"
     "c227d",
     2, "cd980d75-dcf1-47da-bb60-aabe94fea6b2", 1629453011, "{\"type\": \"ja3-jl\"}"},
    {"01fecd980d75dcf147dabb60aabe94fea6b2d37a1f6100000000"
     "adb9504dc95f911ec0060310b4e3457291232420e506c9db6c4dc10783aece7f080000007b2261223a317d0a",
     254, "cd980d75-dcf1-47da-bb60-aabe94fea6b2", 1629453011, "{\"a\":1}\n"},
};
const char* kReferenceDefaultKey = "private key to change";

std::span<const std::uint8_t, kHeaderSize> head(const std::vector<std::uint8_t>& v) {
  return std::span<const std::uint8_t, kHeaderSize>(v.data(), kHeaderSize);
}
}  // namespace

TEST(Header, DecodesGoldenPackets) {
  for (const auto& g : kGolden) {
    auto bytes = from_hex(g.hex);
    ASSERT_EQ(bytes.size(), kHeaderSize + std::strlen(g.payload));
    Header h = decode_header(head(bytes));
    EXPECT_EQ(h.version, 1);
    EXPECT_EQ(h.type, g.type);
    EXPECT_EQ(h.uuid, *Uuid::parse(g.uuid));
    EXPECT_EQ(h.timestamp, g.ts);
    EXPECT_EQ(h.size, std::strlen(g.payload));
    std::array<std::uint8_t, kHeaderSize> again{};
    encode_header(h, again);
    EXPECT_TRUE(std::equal(again.begin(), again.end(), bytes.begin()));
  }
}

TEST(Header, LittleEndianIndependentOfHost) {
  Header h;
  h.type = 3;
  h.timestamp = 0x0102030405060708ULL;
  h.size = 0xA1B2C3D4;
  std::array<std::uint8_t, kHeaderSize> b{};
  encode_header(h, b);
  EXPECT_EQ(b[18], 0x08);
  EXPECT_EQ(b[25], 0x01);
  EXPECT_EQ(b[58], 0xD4);
  EXPECT_EQ(b[61], 0xA1);
  EXPECT_EQ(decode_header(b), h);
}

TEST(Hmac, VerifiesAndReproducesGoldenPackets) {
  HmacKey key(kReferenceDefaultKey);
  for (const auto& g : kGolden) {
    auto bytes = from_hex(g.hex);
    std::span<const std::uint8_t> payload(bytes.data() + kHeaderSize, bytes.size() - kHeaderSize);
    EXPECT_TRUE(key.verify(head(bytes), payload));
    PacketEncoder enc(1, g.type, *Uuid::parse(g.uuid), kReferenceDefaultKey);
    std::vector<std::uint8_t> out;
    enc.append_packet(out, payload, g.ts);
    EXPECT_EQ(out, bytes);
  }
}

TEST(Hmac, RejectsWrongKeyAndAnyFlippedBit) {
  auto bytes = from_hex(kGolden[1].hex);
  HmacKey good(kReferenceDefaultKey), bad("private key to change\n");
  std::span<const std::uint8_t> payload(bytes.data() + kHeaderSize, bytes.size() - kHeaderSize);
  EXPECT_FALSE(bad.verify(head(bytes), payload));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = bytes;
      copy[i] ^= static_cast<std::uint8_t>(1 << bit);
      std::span<const std::uint8_t> p(copy.data() + kHeaderSize, copy.size() - kHeaderSize);
      // The size field is covered by the MAC as well; only flipping the MAC field itself can
      // never yield a valid packet either.
      EXPECT_FALSE(good.verify(head(copy), p)) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Hmac, KeyIsUsedAsRawBytes) {
  // Keys are never hex- or base64-decoded, and may contain HTML-special characters verbatim.
  HmacKey a("<a&b>\"'"), b("&lt;a&amp;b&gt;&#34;&#39;");
  std::array<std::uint8_t, kHeaderSize> h{};
  EXPECT_FALSE(hmac_equal(a.compute(h, {}), b.compute(h, {})));
  HmacKey empty("");
  EXPECT_EQ(empty.compute(h, {}), HmacKey("").compute(h, {}));
  HmacKey copy = a;
  EXPECT_EQ(copy.compute(h, {}), a.compute(h, {}));
}
