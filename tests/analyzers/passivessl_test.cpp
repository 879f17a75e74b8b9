// Passive SSL: ja3-jl parsing (ours and the reference sensor's shape), deduplicated storage in a
// real Redis, the queue of JSON file paths, and the HTTP queries of the real d4-passivessl.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "analyzers/tls/passivessl.hpp"
#include "helpers.hpp"
#include "support/redis_server.hpp"

using namespace d4::analyzers::tls;
using namespace d4::test::an;
using d4::test::Process;
using d4::test::read_text;
using d4::test::RedisServer;
using d4::test::TempDir;
using d4::test::vector_path;

namespace {

constexpr const char* kCertSha1 = "51e40bc32a067617cd4f01b797e7b66a0da121d9";

std::vector<std::string> sessions_of_tls_pcap(const TempDir& dir) {
  auto r = run_tool("d4-tls-fingerprint", {vector_path("tls.pcap")}, dir);
  EXPECT_EQ(r.status, 0) << r.err;
  return lines_of(r.out);
}

}  // namespace

TEST(PassiveSslParse, OurLinesAndReferenceShapedLines) {
  TempDir dir;
  auto lines = sessions_of_tls_pcap(dir);
  ASSERT_EQ(lines.size(), 5u);
  SslSessionRecord r;
  ASSERT_EQ(parse_ja3jl(lines[0], r), RecordStatus::Ok);
  EXPECT_EQ(r.server_port, 14443);
  ASSERT_EQ(r.certificates.size(), 1u);
  EXPECT_EQ(r.certificates[0].sha1, kCertSha1);
  EXPECT_EQ(r.certificates[0].subject, "O=D4 Test,CN=test.d4.example");
  EXPECT_TRUE(r.certificates[0].is_self_signed);
  // The reference Go sensor: Timestamp with a local offset, no SubjectString, Go name objects, no Raw.
  std::string go =
      R"({"ServerIP":"192.0.2.1","ServerPort":"443","ClientIP":"192.168.1.10","ClientPort":"51234",)"
      R"("TLSH":"abc","Timestamp":"2019-06-12T15:09:35.123456789+02:00","JA3":"771,1-2,0,29,0",)"
      R"("JA3Digest":"0123456789abcdef0123456789abcdef","JA3S":"771,1,0","JA3SDigest":"fedcba9876543210fedcba9876543210",)"
      R"("Certificates":[{"CertHash":"be99e1612d9f71b3c1a88a336938ce912b418804","IsCA":false,)"
      R"("Subject":{"CommonName":"localhost","Names":[{"Type":[2,5,4,6],"Value":"LU"},{"Type":[2,5,4,3],"Value":"localhost"}]},)"
      R"("Issuer":{"Names":[{"Type":[2,5,4,6],"Value":"LU"},{"Type":[2,5,4,10],"Value":"SMILE"}]}}]})";
  ASSERT_EQ(parse_ja3jl(go, r), RecordStatus::Ok);
  EXPECT_EQ(r.ts, 1560344975);  // 13:09:35 UTC
  EXPECT_EQ(r.certificates[0].subject, "CN=localhost,C=LU");
  EXPECT_EQ(r.certificates[0].issuer, "O=SMILE,C=LU");
  EXPECT_FALSE(r.certificates[0].is_self_signed);
  EXPECT_EQ(parse_ja3jl("", r), RecordStatus::Empty);
  EXPECT_EQ(parse_ja3jl("{broken", r), RecordStatus::BadJson);
  EXPECT_EQ(
      parse_ja3jl(
          R"({"ServerIP":"1.1.1.1","ServerPort":"443","ClientIP":"2.2.2.2","ClientPort":"1","JA3Digest":"x"})",
          r),
      RecordStatus::BadTimestamp);
  EXPECT_EQ(
      parse_ja3jl(
          R"({"ServerIP":"1.1.1.1","ClientIP":"2.2.2.2","ClientPort":"1","JA3Digest":"x","Timestamp":"2020-01-01T00:00:00Z"})",
          r),
      RecordStatus::MissingField);
  // A CertHash that does not match its Raw DER is rejected, not stored under a wrong key.
  auto tampered = nlohmann::json::parse(lines[0]);
  tampered["Certificates"][0]["CertHash"] = "0000000000000000000000000000000000000000";
  EXPECT_EQ(parse_ja3jl(tampered.dump(), r), RecordStatus::CertificateMismatch);
  EXPECT_EQ(parse_rfc3339("2020-02-29T23:59:59Z"), 1583020799);
  EXPECT_EQ(parse_rfc3339("2020-02-29T23:59:59.5-01:00"), 1583024399);
  EXPECT_FALSE(parse_rfc3339("yesterday"));
}

TEST(PassiveSslQueue, StoresDeduplicatedSessionsAndAnswersQueries) {
  RedisServer redis;
  TempDir dir;
  auto lines = sessions_of_tls_pcap(dir);
  // As the D4 server's ja3-jl handler does: one JSON file per line, its path pushed to the queue.
  std::filesystem::create_directories(dir / "jsons");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto p = dir / "jsons" / (std::to_string(i) + ".json");
    d4::test::write_text(p, lines[i] + "\n");
    redis.cli({"LPUSH", "analyzer:ja3-jl:qq", p.string()}, 2);
  }
  redis.cli({"LPUSH", "analyzer:ja3-jl:qq", (dir / "jsons" / "missing.json").string()}, 2);
  redis.cli({"LPUSH", "analyzer:ja3-jl:qq", "{not json"}, 2);
  auto r = run_tool("d4-passivessl",
                    {"--storage", redis.endpoint(0), "ingest", "-u", "qq", "--analyzer-redis",
                     redis.endpoint(2), "--exit-when-empty"},
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(redis.cli({"LLEN", "analyzer:ja3-jl:qq"}, 2), "0\n");
  EXPECT_EQ(redis.cli({"HGET", "pssl:stats", "records"}), "5\n");
  EXPECT_EQ(redis.cli({"HGET", "pssl:stats", "rejected:unreadable_file"}), "1\n");
  EXPECT_EQ(redis.cli({"HGET", "pssl:stats", "rejected:bad_json"}), "1\n");
  // Two identical TLS 1.2 handshakes from the same client: one session seen twice.
  EXPECT_EQ(redis.cli({"HGET", std::string("pssl:cert:") + kCertSha1, "count"}), "3\n");
  EXPECT_EQ(redis.cli({"ZCARD", std::string("pssl:idx:cert:") + kCertSha1}), "2\n");
  EXPECT_EQ(redis.cli({"ZCARD", "pssl:all:ja3"}), "3\n");
  // Importing the same sessions again only bumps counters.
  d4::test::write_text(dir / "all.ndjson", r.out.empty() ? "" : r.out);
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  d4::test::write_text(dir / "all.ndjson", all);
  r = run_tool("d4-passivessl", {"--storage", redis.endpoint(0), "import", (dir / "all.ndjson").string()},
               dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(redis.cli({"ZCARD", std::string("pssl:idx:cert:") + kCertSha1}), "2\n");
  EXPECT_EQ(redis.cli({"HGET", std::string("pssl:cert:") + kCertSha1, "count"}), "6\n");

  int port = 0;
  Process server = start_server("d4-passivessl", {"--storage", redis.endpoint(0), "serve"}, port, dir);
  auto p = static_cast<std::uint16_t>(port);
  auto cert = nlohmann::json::parse(http_get(p, std::string("/cert/") + kCertSha1).body);
  EXPECT_EQ(cert["cert"]["subject"], "O=D4 Test,CN=test.d4.example");
  EXPECT_EQ(cert["total"], 2);
  ASSERT_EQ(cert["sessions"].size(), 2u);
  EXPECT_EQ(cert["sessions"][0]["server_port"], 14443);
  EXPECT_EQ(cert["sessions"][0]["certs"][0], kCertSha1);
  auto ja3 = nlohmann::json::parse(http_get(p, "/ja3/871a754af286dfb70c1b53c6887c62e0").body);
  EXPECT_EQ(ja3["ja3"]["raw"].get<std::string>().substr(0, 4), "771,");
  EXPECT_EQ(ja3["ja3s"][0]["ja3s"], "ec74a5c51106f0419184d0dd08fb05bc");
  auto ja3s = nlohmann::json::parse(http_get(p, "/ja3s/15af977ce25de452b96affa2addb1036").body);
  EXPECT_EQ(ja3s["total"], 1);  // both TLS 1.3 handshakes are the same session
  EXPECT_EQ(ja3s["sessions"][0]["tls_version"], "TLS 1.3");
  auto sni = nlohmann::json::parse(http_get(p, "/sni/TEST.d4.example?limit=1").body);
  EXPECT_EQ(sni["total"], 2);
  EXPECT_EQ(sni["sessions"].size(), 1u);
  EXPECT_TRUE(sni["truncated"].get<bool>());
  auto ip = nlohmann::json::parse(http_get(p, "/ip/127.0.0.1").body);
  EXPECT_EQ(ip["total"], 3);
  std::string id = ip["sessions"][0]["id"];
  auto sess = http_get(p, "/session/" + id);
  EXPECT_EQ(sess.status, 200);
  EXPECT_EQ(http_get(p, "/session/ffffffffffffffffffff").status, 404);
  EXPECT_EQ(http_get(p, "/cert/" + std::string(40, '0')).status, 200);  // unknown: empty result, not an error
  EXPECT_EQ(http_get(p, "/ja3/x?limit=abc").status, 400);
  auto info = nlohmann::json::parse(http_get(p, "/info").body);
  EXPECT_EQ(info["certificates"], 1);
  server.stop();
}
