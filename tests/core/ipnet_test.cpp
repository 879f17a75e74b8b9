#include <gtest/gtest.h>

#include <string>

#include "core/ipnet.hpp"

using d4::core::IpAddress;
using d4::core::IpBlocklist;
using d4::core::IpNetwork;

TEST(IpAddress, ParsesAndRendersBothFamilies) {
  auto a = IpAddress::parse("192.0.2.7");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->to_string(), "192.0.2.7");
  // A dual-stack listener reports IPv4 peers IPv4-mapped; they are the same address.
  auto mapped = IpAddress::parse("::ffff:192.0.2.7");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(*mapped, *a);
  EXPECT_EQ(mapped->to_string(), "192.0.2.7");
  auto v6 = IpAddress::parse("2001:DB8:0:0:0:0:0:1");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(v6->to_string(), "2001:db8::1");
  // The zone id is dropped, as the reference does.
  auto zoned = IpAddress::parse("fe80::1%eth0");
  ASSERT_TRUE(zoned);
  EXPECT_EQ(zoned->to_string(), "fe80::1");
  for (const char* bad : {"", "1.2.3", "1.2.3.256", "1.2.3.4 ", "example.org", "2001:db8::1::2", ":::"})
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
}

TEST(IpNetwork, ParsesCanonicalisesAndMatches) {
  auto n = IpNetwork::parse("10.1.2.3/8");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->to_string(), "10.0.0.0/8") << "host bits are cleared";
  EXPECT_TRUE(n->contains(*IpAddress::parse("10.255.0.1")));
  EXPECT_FALSE(n->contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_TRUE(n->contains(*IpAddress::parse("::ffff:10.9.9.9")));

  auto single = IpNetwork::parse("203.0.113.5");
  ASSERT_TRUE(single);
  EXPECT_TRUE(single->is_single_address());
  EXPECT_EQ(single->to_string(), "203.0.113.5");

  auto v6 = IpNetwork::parse("2001:db8:abcd::/48");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*IpAddress::parse("2001:db8:abcd:ffff::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("2001:db8:abce::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("10.0.0.1")));

  auto mapped = IpNetwork::parse("::ffff:192.168.0.0/112");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->to_string(), "192.168.0.0/16");

  auto all6 = IpNetwork::parse("::/0");
  ASSERT_TRUE(all6);
  EXPECT_TRUE(all6->contains(*IpAddress::parse("2001:db8::1")));
  EXPECT_FALSE(all6->contains(*IpAddress::parse("1.2.3.4"))) << "families never mix";

  std::string err;
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/33", &err));
  EXPECT_NE(err.find("prefix"), std::string::npos);
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/", &err));
  EXPECT_FALSE(IpNetwork::parse("10.0.0.0/8x", &err));
  EXPECT_FALSE(IpNetwork::parse("2001:db8::/129", &err));
  EXPECT_FALSE(IpNetwork::parse("::ffff:1.2.3.4/64", &err));
  EXPECT_FALSE(IpNetwork::parse("host/8", &err));
}

TEST(IpBlocklist, MatchesAddressesAndRangesWithoutExpansion) {
  IpBlocklist b;
  EXPECT_TRUE(b.add("198.51.100.7"));
  EXPECT_TRUE(b.add("10.0.0.0/8"));
  EXPECT_TRUE(b.add("2001:db8::/32"));
  // A /8 IPv6 prefix would be 2^120 addresses if expanded like the reference does.
  EXPECT_TRUE(b.add("fc00::/7"));
  EXPECT_FALSE(b.add("not-an-ip"));
  EXPECT_EQ(b.size(), 4u);
  ASSERT_EQ(b.invalid_entries().size(), 1u);

  EXPECT_EQ(b.match(*IpAddress::parse("198.51.100.7")), "198.51.100.7");
  EXPECT_FALSE(b.contains(*IpAddress::parse("198.51.100.8")));
  EXPECT_EQ(b.match(*IpAddress::parse("10.200.3.4")), "10.0.0.0/8");
  EXPECT_EQ(b.match(*IpAddress::parse("::ffff:10.200.3.4")), "10.0.0.0/8");
  EXPECT_EQ(b.match(*IpAddress::parse("2001:db8:1::5")), "2001:db8::/32");
  EXPECT_EQ(b.match(*IpAddress::parse("fd12::1")), "fc00::/7");
  EXPECT_FALSE(b.contains(*IpAddress::parse("2001:db9::1")));
  EXPECT_FALSE(b.contains(*IpAddress::parse("11.0.0.1")));

  // The most specific entry is reported when several match.
  b.add("10.1.0.0/16");
  EXPECT_EQ(b.match(*IpAddress::parse("10.1.2.3")), "10.1.0.0/16");

  // An IPv6 prefix shorter than 96 bits never captures IPv4 addresses.
  IpBlocklist v6only;
  v6only.add("::/1");
  EXPECT_FALSE(v6only.contains(*IpAddress::parse("1.2.3.4")));
  EXPECT_TRUE(v6only.contains(*IpAddress::parse("::1")));
}

TEST(IpBlocklist, ManyEntriesStayFast) {
  IpBlocklist b;
  for (int i = 0; i < 20000; ++i)
    b.add("100.64." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256));
  b.add("192.0.2.0/24");
  EXPECT_EQ(b.size(), 20001u);
  EXPECT_TRUE(b.contains(*IpAddress::parse("100.64.10.20")));
  EXPECT_TRUE(b.contains(*IpAddress::parse("192.0.2.99")));
  EXPECT_FALSE(b.contains(*IpAddress::parse("100.65.0.1")));
}

TEST(NormalizeIpText, MatchesReferenceRendering) {
  EXPECT_EQ(d4::core::normalize_ip_text("::ffff:127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(d4::core::normalize_ip_text("fe80::1%lo"), "fe80::1");
  EXPECT_EQ(d4::core::normalize_ip_text("garbage"), "garbage");
}

TEST(SourceNetwork, AnIpv4Slash24OrAnIpv6Slash64IsOneSource) {
  using d4::core::source_network_text;
  EXPECT_EQ(d4::core::source_network(*IpAddress::parse("192.0.2.77")).to_string(), "192.0.2.0/24");
  EXPECT_EQ(source_network_text("::ffff:192.0.2.77"), "192.0.2.0/24");
  EXPECT_EQ(source_network_text("2001:db8:1:2:aaaa::5"), "2001:db8:1:2::/64");
  // Wider networks stay as they are; narrower ones widen to the source network.
  EXPECT_EQ(source_network_text("10.0.0.0/8"), "10.0.0.0/8");
  EXPECT_EQ(source_network_text("192.0.2.128/25"), "192.0.2.0/24");
  EXPECT_EQ(source_network_text("not an address"), "not an address");
}
