// The PROXY protocol v2 parser (server/proxy_protocol.hpp) on hand-made headers, including the
// ones a hostile or misconfigured peer sends.
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "server/proxy_protocol.hpp"

using namespace d4::server;

namespace {

std::vector<std::uint8_t> fixed_part(std::uint8_t version_command, std::uint8_t family,
                                     std::uint16_t length) {
  std::vector<std::uint8_t> h(proxy::kSignature.begin(), proxy::kSignature.end());
  h.push_back(version_command);
  h.push_back(family);
  h.push_back(static_cast<std::uint8_t>(length >> 8));
  h.push_back(static_cast<std::uint8_t>(length & 0xFF));
  return h;
}

std::optional<proxy::Fixed> parse_start(const std::vector<std::uint8_t>& h, std::string* error) {
  return proxy::parse_fixed(std::span<const std::uint8_t, proxy::kFixedSize>(h.data(), proxy::kFixedSize),
                            error);
}

std::vector<std::uint8_t> bytes_of(std::string_view text) {
  return {text.begin(), text.end()};
}

}  // namespace

TEST(ProxyProtocolParser, Tcp4AndTcp6SourcesAreRead) {
  std::string error;
  auto f = parse_start(fixed_part(0x21, 0x11, 12), &error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(f->command, proxy::Command::Proxy);
  EXPECT_EQ(f->length, 12);
  const std::vector<std::uint8_t> v4 = {192, 0, 2, 7, 10, 0, 0, 1, 0x9C, 0x41, 0x11, 0x5B};
  auto s = proxy::parse_source(*f, v4, &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->address.to_string(), "192.0.2.7");
  EXPECT_EQ(s->port, 40001);

  f = parse_start(fixed_part(0x21, 0x21, 36 + 20), &error);  // addresses and a TLV
  ASSERT_TRUE(f) << error;
  std::vector<std::uint8_t> v6(36, 0);
  v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8, v6[15] = 0x07;
  v6[32] = 0x01, v6[33] = 0xBB;
  s = proxy::parse_source(*f, v6, &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->address.to_string(), "2001:db8::7");
  EXPECT_EQ(s->port, 443);
}

TEST(ProxyProtocolParser, LocalCommandNeedsNoAddress) {
  std::string error;
  auto f = parse_start(fixed_part(0x20, 0x00, 0), &error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ(f->command, proxy::Command::Local);
}

TEST(ProxyProtocolParser, AnythingElseIsRefusedWithAReason) {
  std::string error;
  auto v1 = bytes_of("PROXY TCP4 192.0.2.7 10.0.0.1 40001 4443\r\n");
  EXPECT_FALSE(parse_start(v1, &error));
  EXPECT_NE(error.find("version 1"), std::string::npos);
  std::vector<std::uint8_t> client_hello = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01,
                                            0xFC, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_FALSE(parse_start(client_hello, &error));
  EXPECT_NE(error.find("TLS handshake"), std::string::npos);
  EXPECT_FALSE(parse_start(fixed_part(0x11, 0x11, 12), &error)) << "version 1 in the binary form";
  EXPECT_FALSE(parse_start(fixed_part(0x22, 0x11, 12), &error)) << "unknown command";
  EXPECT_FALSE(parse_start(fixed_part(0x21, 0x11, proxy::kMaxLength + 1), &error));
  EXPECT_NE(error.find("more than"), std::string::npos);
  EXPECT_TRUE(parse_start(fixed_part(0x21, 0x11, proxy::kMaxLength), &error)) << "exactly the bound";
  auto garbage = fixed_part(0x21, 0x11, 12);
  garbage[3] = 'x';
  EXPECT_FALSE(parse_start(garbage, &error));

  // Families without a TCP source address, and blocks too short for their family.
  const std::vector<std::uint8_t> block(36, 1);
  for (int family : {0x00, 0x12, 0x22, 0x31})
    EXPECT_FALSE(proxy::parse_source(
        proxy::Fixed{proxy::Command::Proxy, static_cast<std::uint8_t>(family), 36}, block, &error))
        << family;
  EXPECT_FALSE(proxy::parse_source(proxy::Fixed{proxy::Command::Proxy, 0x21, 12}, block, &error));
  EXPECT_NE(error.find("needs 36"), std::string::npos);
  EXPECT_FALSE(proxy::parse_source(proxy::Fixed{proxy::Command::Proxy, 0x11, 12},
                                   std::span<const std::uint8_t>(block).first(11), &error));
}

TEST(ProxyProtocolParser, FirstBytesOfEitherVersionAreRecognised) {
  const std::vector<std::uint8_t> sig(proxy::kSignature.begin(), proxy::kSignature.end());
  EXPECT_TRUE(proxy::starts_like_proxy_header(sig));
  EXPECT_TRUE(proxy::starts_like_proxy_header(std::span<const std::uint8_t>(sig).first(3)));
  EXPECT_TRUE(proxy::starts_like_proxy_header(bytes_of("PROXY TCP4")));
  EXPECT_TRUE(proxy::starts_like_proxy_header(bytes_of("PRO")));
  EXPECT_FALSE(proxy::starts_like_proxy_header(bytes_of("GET / HTTP/1.1")));
  EXPECT_FALSE(proxy::starts_like_proxy_header(std::vector<std::uint8_t>{0x16, 0x03, 0x01}));
  EXPECT_FALSE(proxy::starts_like_proxy_header({}));
}
