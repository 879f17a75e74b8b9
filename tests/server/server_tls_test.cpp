// TLS 1.2 offers only forward-secret AEAD suites (OpenSSL's default list also accepted CBC with
// SHA-1 MACs), the list is configurable and reloadable, and TLS 1.3 is unchanged.
#include <gtest/gtest.h>
#include <signal.h>

#include "server/harness.hpp"

using namespace d4;
using namespace d4::test;

TEST(ServerTls, Tls12AcceptsOnlyAeadSuitesConfigurablyAndTls13IsUnchanged) {
  RedisServer redis;
  ServerProcess server(redis);
  // The generated certificate has an EC key: ECDSA suites.
  EXPECT_EQ(tls12_negotiated_cipher(server.tls_port(), "ECDHE-ECDSA-AES128-SHA"), "") << "CBC with SHA-1";
  EXPECT_EQ(tls12_negotiated_cipher(server.tls_port(), "ECDHE-ECDSA-AES256-SHA384"), "") << "CBC";
  EXPECT_EQ(tls12_negotiated_cipher(server.tls_port(), "ECDHE-ECDSA-AES128-GCM-SHA256"),
            "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(tls12_negotiated_cipher(server.tls_port(), "ECDHE-ECDSA-CHACHA20-POLY1305"),
            "ECDHE-ECDSA-CHACHA20-POLY1305");
  EXPECT_TRUE(tls_handshake_ok(server.tls_port())) << "TLS 1.3 with the client's defaults";
  // An operator's own list, applied on SIGHUP.
  ServerOptions o;
  o.extra_server_toml = "tls_ciphers = \"ECDHE-ECDSA-AES256-GCM-SHA384\"\n";
  server.write_config(o);
  server.signal(SIGHUP);
  EXPECT_TRUE(eventually([&] {
    return tls12_negotiated_cipher(server.tls_port(), "ECDHE-ECDSA-AES128-GCM-SHA256").empty();
  })) << server.log();
  EXPECT_EQ(tls12_negotiated_cipher(server.tls_port(), "ECDHE-ECDSA-AES256-GCM-SHA384"),
            "ECDHE-ECDSA-AES256-GCM-SHA384");
  EXPECT_TRUE(tls_handshake_ok(server.tls_port()));
}
