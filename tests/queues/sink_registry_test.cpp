// The export sinks by URL scheme (src/queues/export/sinks.*): how a destination picks its sink,
// and what is refused before anything is connected.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "queues/export/sinks.hpp"

namespace d4::queues {
namespace {

TEST(SinkRegistry, EverySchemeIsRegisteredOnceAndShownInTheSyntax) {
  std::set<std::string_view> schemes;
  for (const auto& s : sink_schemes()) {
    EXPECT_TRUE(schemes.insert(s.scheme).second) << s.scheme;
    EXPECT_NE(sink_syntax().find(s.syntax), std::string::npos) << s.syntax;
  }
  EXPECT_EQ(schemes, (std::set<std::string_view>{"stdout", "file", "tcp", "tls", "udp", "unix", "unixgram",
                                                 "syslog-udp", "syslog-tcp"}));
}

TEST(SinkRegistry, DestinationPicksTheSinkOfItsScheme) {
  SinkOptions o;
  EXPECT_EQ(make_sink("stdout", o)->describe(), "stdout");
  EXPECT_EQ(make_sink("-", o)->describe(), "stdout");
  EXPECT_EQ(make_sink("file:/tmp/x.txt", o)->describe(), "file:/tmp/x.txt");
  EXPECT_EQ(make_sink("tls:127.0.0.1:6000", o)->describe(), "tls:127.0.0.1:6000");
  EXPECT_EQ(make_sink("tcp:[::1]:6000", o)->describe(), "[::1]:6000");
  EXPECT_EQ(make_sink("unixgram:/run/x.sock", o)->describe(), "/run/x.sock");
}

TEST(SinkRegistry, UnknownSchemeOrMissingAddressIsRefused) {
  SinkOptions o;
  EXPECT_THROW(make_sink("ftp:host:21", o), std::invalid_argument);
  EXPECT_THROW(make_sink("stdout:x", o), std::invalid_argument);
  EXPECT_THROW(make_sink("tcp:", o), std::invalid_argument);
  EXPECT_THROW(make_sink("file", o), std::invalid_argument);
  EXPECT_THROW(make_sink("udp:nohostport", o), std::invalid_argument);
}

}  // namespace
}  // namespace d4::queues
