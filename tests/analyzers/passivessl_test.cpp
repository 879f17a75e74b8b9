// Passive SSL: ja3-jl parsing (ours and the reference sensor's shape), deduplicated storage in a
// real Redis, the queue of JSON file paths, and the HTTP queries of the real d4-passivessl;
// chains rebuilt and verified from certificates generated here, public key parameters and key
// reuse, TLSH similarity queries, and the file inputs (directories, DER/PEM, tar.gz).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include <cstdlib>
#include <memory>
#include <set>

#include "analyzers/tls/certificate.hpp"
#include "analyzers/tls/passivessl.hpp"
#include "analyzers/tls/tlsh.hpp"
#include "analyzers/tls/x509_analysis.hpp"
#include "cert_factory.hpp"
#include "core/redis_cluster.hpp"
#include "helpers.hpp"
#include "protocol/encoding.hpp"
#include "protocol/text.hpp"
#include "redis_dump.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"

using namespace d4::analyzers::tls;
using namespace d4::test::an;
using d4::test::Process;
using d4::test::read_text;
using d4::test::RedisServer;
using d4::test::TempDir;
using d4::test::vector_path;

namespace {

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

// One store for the suite, filled as the D4 server's ja3-jl handler does: one JSON file per session
// of tls.pcap, its path pushed to the queue, plus a missing file and a line that is no JSON; then
// d4-passivessl ingests the queue and serves queries.
class PassiveSslQueue : public ::testing::Test {
 protected:
  struct Shared {
    RedisServer redis;
    TempDir dir;
    std::vector<std::string> lines;
    d4::test::an::RunResult ingested;
    bool reimported = false;
    int port = 0;
    std::unique_ptr<Process> server;
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    s.lines = sessions_of_tls_pcap(s.dir);
    std::filesystem::create_directories(s.dir / "jsons");
    for (std::size_t i = 0; i < s.lines.size(); ++i) {
      auto p = s.dir / "jsons" / (std::to_string(i) + ".json");
      d4::test::write_text(p, s.lines[i] + "\n");
      s.redis.cli({"LPUSH", "analyzer:ja3-jl:qq", p.string()}, 2);
    }
    s.redis.cli({"LPUSH", "analyzer:ja3-jl:qq", (s.dir / "jsons" / "missing.json").string()}, 2);
    s.redis.cli({"LPUSH", "analyzer:ja3-jl:qq", "{not json"}, 2);
    s.ingested = run_tool("d4-passivessl",
                          {"--storage", s.redis.endpoint(0), "ingest", "-u", "qq", "--analyzer-redis",
                           s.redis.endpoint(2), "--exit-when-empty"},
                          s.dir);
    ASSERT_EQ(s.ingested.status, 0) << s.ingested.err;
    s.server = std::make_unique<Process>(
        start_server("d4-passivessl", {"--storage", s.redis.endpoint(0), "serve"}, s.port, s.dir));
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { ASSERT_TRUE(shared_ && shared_->server) << "the suite's set-up failed"; }

  static Shared& s() { return *shared_; }
  // The same sessions imported once more from an NDJSON file (once for the suite); the queries
  // are made after it.
  static void reimport() {
    if (s().reimported) return;
    std::string all;
    for (const auto& l : s().lines) all += l + "\n";
    d4::test::write_text(s().dir / "all.ndjson", all);
    auto r =
        run_tool("d4-passivessl",
                 {"--storage", s().redis.endpoint(0), "import", (s().dir / "all.ndjson").string()}, s().dir);
    ASSERT_EQ(r.status, 0) << r.err;
    s().reimported = true;
  }
  static HttpResult get(const std::string& target) {
    return http_get(static_cast<std::uint16_t>(s().port), target);
  }
  static nlohmann::json get_json(const std::string& target) {
    return nlohmann::json::parse(get(target).body);
  }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(PassiveSslQueue, IngestStoresEachSessionOnceAndCountsWhatItRejects) {
  ASSERT_EQ(s().lines.size(), 5u);
  ASSERT_FALSE(s().reimported) << "this test comes before the suite imports the sessions again";
  auto& redis = s().redis;
  EXPECT_EQ(redis.cli({"LLEN", "analyzer:ja3-jl:qq"}, 2), "0\n");
  EXPECT_EQ(redis.cli({"HGET", "pssl:stats", "records"}), "5\n");
  EXPECT_EQ(redis.cli({"HGET", "pssl:stats", "rejected:unreadable_file"}), "1\n");
  EXPECT_EQ(redis.cli({"HGET", "pssl:stats", "rejected:bad_json"}), "1\n");
  // Two identical TLS 1.2 handshakes from the same client: one session seen twice.
  EXPECT_EQ(redis.cli({"HGET", std::string("pssl:cert:") + kCertSha1, "count"}), "3\n");
  EXPECT_EQ(redis.cli({"ZCARD", std::string("pssl:idx:cert:") + kCertSha1}), "2\n");
  EXPECT_EQ(redis.cli({"ZCARD", "pssl:all:ja3"}), "3\n");
}

TEST_F(PassiveSslQueue, ImportingTheSameSessionsAgainOnlyBumpsCounters) {
  ASSERT_NO_FATAL_FAILURE(reimport());
  EXPECT_EQ(s().redis.cli({"ZCARD", std::string("pssl:idx:cert:") + kCertSha1}), "2\n");
  EXPECT_EQ(s().redis.cli({"HGET", std::string("pssl:cert:") + kCertSha1, "count"}), "6\n");
}

TEST_F(PassiveSslQueue, ACertificateQueryListsTheSessionsThatSentIt) {
  ASSERT_NO_FATAL_FAILURE(reimport());
  auto cert = get_json(std::string("/cert/") + kCertSha1);
  EXPECT_EQ(cert["cert"]["subject"], "O=D4 Test,CN=test.d4.example");
  EXPECT_EQ(cert["total"], 2);
  ASSERT_EQ(cert["sessions"].size(), 2u);
  EXPECT_EQ(cert["sessions"][0]["server_port"], 14443);
  EXPECT_EQ(cert["sessions"][0]["certs"][0], kCertSha1);
  EXPECT_EQ(get("/cert/" + std::string(40, '0')).status, 200);  // unknown: empty result, not an error
  EXPECT_EQ(get_json("/info")["certificates"], 1);
}

TEST_F(PassiveSslQueue, Ja3AndJa3sQueriesFindTheirHandshakes) {
  ASSERT_NO_FATAL_FAILURE(reimport());
  auto ja3 = get_json("/ja3/871a754af286dfb70c1b53c6887c62e0");
  EXPECT_EQ(ja3["ja3"]["raw"].get<std::string>().substr(0, 4), "771,");
  EXPECT_EQ(ja3["ja3s"][0]["ja3s"], "ec74a5c51106f0419184d0dd08fb05bc");
  auto ja3s = get_json("/ja3s/15af977ce25de452b96affa2addb1036");
  EXPECT_EQ(ja3s["total"], 1);  // both TLS 1.3 handshakes are the same session
  EXPECT_EQ(ja3s["sessions"][0]["tls_version"], "TLS 1.3");
  EXPECT_EQ(get("/ja3/x?limit=abc").status, 400);
}

TEST_F(PassiveSslQueue, SniAndIpQueriesArePagedAndLeadToTheirSessions) {
  ASSERT_NO_FATAL_FAILURE(reimport());
  auto sni = get_json("/sni/TEST.d4.example?limit=1");
  EXPECT_EQ(sni["total"], 2);
  EXPECT_EQ(sni["sessions"].size(), 1u);
  EXPECT_TRUE(sni["truncated"].get<bool>());
  auto ip = get_json("/ip/127.0.0.1");
  EXPECT_EQ(ip["total"], 3);
  std::string id = ip["sessions"][0]["id"];
  EXPECT_EQ(get("/session/" + id).status, 200);
  EXPECT_EQ(get("/session/ffffffffffffffffffff").status, 404);
}

namespace {

using Der = std::vector<std::uint8_t>;

// A ja3-jl line as the sensors write it, with the given certificates (Raw + CertHash).
std::string session_line(const std::vector<const Der*>& certs, const std::string& server_ip = "192.0.2.1",
                         const std::string& tlsh = "",
                         const std::string& ja3 = "0123456789abcdef0123456789abcdef") {
  nlohmann::json j = {{"ServerIP", server_ip},
                      {"ServerPort", "443"},
                      {"ClientIP", "198.51.100.7"},
                      {"ClientPort", "50000"},
                      {"TLSH", tlsh},
                      {"Timestamp", "2024-05-01T10:00:00Z"},
                      {"JA3", "771,4865,0,29,0"},
                      {"JA3Digest", ja3},
                      {"JA3S", "771,4865,43"},
                      {"JA3SDigest", "fedcba9876543210fedcba9876543210"}};
  nlohmann::json list = nlohmann::json::array();
  for (const auto* d : certs)
    list.push_back({{"CertHash", sha1_hex_of(*d)}, {"Raw", d4::protocol::base64_encode(*d)}});
  j["Certificates"] = certs.empty() ? nlohmann::json(nullptr) : list;
  return j.dump();
}

struct Pki {
  Key root_key = make_ec_key(), inter_key = make_ec_key(), leaf_key = make_ec_key(), fake_key = make_ec_key();
  Name root_name{{"O", "Test PKI"}, {"CN", "Test Root"}};
  Name inter_name{{"O", "Test PKI"}, {"CN", "Test Intermediate"}};
  Der root, inter, leaf, fake;
  // Without key identifiers, only the signature tells the real intermediate from the fake one,
  // which has the same name but another key.
  explicit Pki(bool key_identifiers = false) {
    root = make_certificate({root_name, {}, true, 1, key_identifiers}, root_key.get(), root_key.get(),
                            root_key.get());
    inter = make_certificate({inter_name, root_name, true, 2, key_identifiers}, inter_key.get(),
                             root_key.get(), root_key.get());
    leaf = make_certificate({{{"CN", "www.test"}}, inter_name, false, 3, key_identifiers}, leaf_key.get(),
                            inter_key.get(), inter_key.get());
    // Claims the intermediate's name and to be issued by the root, signed by an unrelated key.
    fake = make_certificate({inter_name, root_name, true, 4, key_identifiers}, fake_key.get(), fake_key.get(),
                            fake_key.get());
  }
};

const SslCertificate& by_sha1(const SslSessionRecord& r, const Der& d) {
  for (const auto& c : r.certificates)
    if (c.sha1 == sha1_hex_of(d)) return c;
  throw std::runtime_error("certificate not in record");
}

std::string bn_decimal(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
  char* s = BN_bn2dec(bn);
  std::string out(s);
  OPENSSL_free(s);
  BN_free(bn);
  return out;
}

std::string param(const PublicKeyDetails& k, const std::string& name) {
  for (const auto& [n, v] : k.parameters)
    if (n == name) return v;
  return "<missing>";
}

}  // namespace

TEST(PassiveSslChain, RebuiltByIssuerAndSignatureInAnyOrder) {
  for (bool key_identifiers : {false, true}) {
    SCOPED_TRACE(key_identifiers ? "with key identifiers" : "names and signatures only");
    Pki pki(key_identifiers);
    const std::string root = sha1_hex_of(pki.root), inter = sha1_hex_of(pki.inter),
                      leaf = sha1_hex_of(pki.leaf), fake = sha1_hex_of(pki.fake);
    const std::vector<std::vector<const Der*>> orders = {{&pki.leaf, &pki.inter, &pki.root},
                                                         {&pki.root, &pki.leaf, &pki.inter},
                                                         {&pki.inter, &pki.root, &pki.leaf}};
    for (const auto& order : orders) {
      SslSessionRecord r;
      ASSERT_EQ(parse_ja3jl(session_line(order), r), RecordStatus::Ok);
      const auto& l = by_sha1(r, pki.leaf);
      EXPECT_TRUE(l.verified);
      EXPECT_EQ(l.chain, (std::vector<std::string>{root, inter, leaf}));
      EXPECT_TRUE(l.is_valid_chain);
      EXPECT_EQ(l.issuer_sha1, inter);
      EXPECT_FALSE(l.is_ca);
      EXPECT_FALSE(l.is_self_signed);
      const auto& i = by_sha1(r, pki.inter);
      EXPECT_EQ(i.chain, (std::vector<std::string>{root, inter}));
      EXPECT_TRUE(i.is_valid_chain);
      EXPECT_TRUE(i.is_ca);
      const auto& rt = by_sha1(r, pki.root);
      EXPECT_TRUE(rt.is_self_signed);
      EXPECT_EQ(rt.chain, std::vector<std::string>{root});
      EXPECT_TRUE(rt.is_valid_chain);
      EXPECT_EQ(rt.issuer_sha1, "");
    }
    // The fake intermediate (same name, other key) placed before the real one is not taken as
    // the leaf's issuer, and its own chain is broken: the root it names was sent and did not sign it.
    SslSessionRecord r;
    ASSERT_EQ(parse_ja3jl(session_line({&pki.leaf, &pki.fake, &pki.inter, &pki.root}), r), RecordStatus::Ok);
    EXPECT_EQ(by_sha1(r, pki.leaf).chain, (std::vector<std::string>{root, inter, leaf}));
    EXPECT_TRUE(by_sha1(r, pki.leaf).is_valid_chain);
    EXPECT_EQ(by_sha1(r, pki.fake).chain, std::vector<std::string>{fake});
    EXPECT_FALSE(by_sha1(r, pki.fake).is_valid_chain);
    EXPECT_FALSE(by_sha1(r, pki.fake).is_self_signed);
    // Only the fake sent: the leaf's named issuer is present but does not verify.
    ASSERT_EQ(parse_ja3jl(session_line({&pki.leaf, &pki.fake}), r), RecordStatus::Ok);
    EXPECT_EQ(by_sha1(r, pki.leaf).chain, std::vector<std::string>{leaf});
    EXPECT_FALSE(by_sha1(r, pki.leaf).is_valid_chain);
    EXPECT_EQ(by_sha1(r, pki.leaf).issuer_sha1, "");
    // Leaf and intermediate without the root (what servers usually send): valid up to the top.
    ASSERT_EQ(parse_ja3jl(session_line({&pki.leaf, &pki.inter}), r), RecordStatus::Ok);
    EXPECT_EQ(by_sha1(r, pki.leaf).chain, (std::vector<std::string>{inter, leaf}));
    EXPECT_TRUE(by_sha1(r, pki.leaf).is_valid_chain);
  }
  // A self-issued certificate whose signature does not verify is not self-signed.
  auto k1 = make_ec_key(), k2 = make_ec_key();
  auto forged = make_certificate({{{"CN", "self"}}, {}}, k1.get(), k2.get());
  auto entries = analyze_certificates({std::span<const std::uint8_t>(forged)});
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_FALSE(entries[0].is_self_signed);
  EXPECT_FALSE(entries[0].is_valid_chain);
  auto good = make_certificate({{{"CN", "self"}}, {}}, k1.get(), k1.get());
  EXPECT_TRUE(analyze_certificates({std::span<const std::uint8_t>(good)})[0].is_self_signed);
}

TEST(PassiveSslPublicKeys, ParametersPerKeyType) {
  auto rsa = make_rsa_key(2048);
  auto rsa_cert = make_certificate({{{"CN", "rsa"}}, {}}, rsa.get(), rsa.get());
  auto c = certificate_from_der(rsa_cert);
  ASSERT_TRUE(c && c->public_key);
  EXPECT_EQ(c->public_key->type, "RSA");
  EXPECT_EQ(c->public_key->sha256, c->spki_sha256);
  EXPECT_EQ(c->public_key->bits, 2048);
  EXPECT_EQ(param(*c->public_key, "modulus"), bn_decimal(rsa.get(), OSSL_PKEY_PARAM_RSA_N));
  EXPECT_EQ(param(*c->public_key, "exponent"), "65537");
  EXPECT_EQ(param(*c->public_key, "modulus_size"), "256");

  auto ec = make_ec_key("P-256");
  auto ec_cert = make_certificate({{{"CN", "ec"}}, {}}, ec.get(), ec.get());
  c = certificate_from_der(ec_cert);
  ASSERT_TRUE(c && c->public_key);
  const auto& k = *c->public_key;
  EXPECT_EQ(k.type, "EC");
  EXPECT_EQ(param(k, "curve_name"), "prime256v1");
  EXPECT_EQ(param(k, "bitsize"), "256");
  EXPECT_EQ(param(k, "X"), bn_decimal(ec.get(), OSSL_PKEY_PARAM_EC_PUB_X));
  EXPECT_EQ(param(k, "Y"), bn_decimal(ec.get(), OSSL_PKEY_PARAM_EC_PUB_Y));
  // NIST P-256 (FIPS 186-4 D.1.2.3).
  EXPECT_EQ(param(k, "P"), "115792089210356248762697446949407573530086143415290314195533631308867097853951");
  EXPECT_EQ(param(k, "N"), "115792089210356248762697446949407573529996955224135760342422259061068512044369");
  EXPECT_EQ(param(k, "B"), "41058363725152142129326129780047268409114441015993725554835256314039467401291");
  EXPECT_EQ(param(k, "Gx"), "48439561293906451759052585252797914202762949526041747995844080717082404635286");
  EXPECT_EQ(param(k, "Gy"), "36134250956749795798585127919587881956611106672985015071877198253568414405109");

  auto dsa = make_dsa_key();
  auto dsa_cert = make_certificate({{{"CN", "dsa"}}, {}}, dsa.get(), dsa.get());
  c = certificate_from_der(dsa_cert);
  ASSERT_TRUE(c && c->public_key);
  EXPECT_EQ(c->public_key->type, "DSA");
  EXPECT_EQ(param(*c->public_key, "P"), bn_decimal(dsa.get(), OSSL_PKEY_PARAM_FFC_P));
  EXPECT_EQ(param(*c->public_key, "Q"), bn_decimal(dsa.get(), OSSL_PKEY_PARAM_FFC_Q));
  EXPECT_EQ(param(*c->public_key, "G"), bn_decimal(dsa.get(), OSSL_PKEY_PARAM_FFC_G));
  EXPECT_EQ(param(*c->public_key, "Y"), bn_decimal(dsa.get(), OSSL_PKEY_PARAM_PUB_KEY));

  auto ed = make_ed25519_key();
  auto ed_cert = make_certificate({{{"CN", "ed"}}, {}}, ed.get(), ed.get());
  c = certificate_from_der(ed_cert);
  ASSERT_TRUE(c && c->public_key);
  EXPECT_EQ(c->public_key->type, "ED25519");
  EXPECT_TRUE(c->public_key->parameters.empty());
  EXPECT_TRUE(c->is_self_signed);
  EXPECT_FALSE(describe_public_key(Der{0x30, 0x00}));
}

// One d4-passivessl store and query server for the suite: three sessions' chains imported (a second
// leaf reusing the first leaf's key, as a renewal without a new key does), each with a TLSH digest,
// and a fourth session whose TLSH is no digest.
class PassiveSslQueries : public ::testing::Test {
 protected:
  struct Shared {
    RedisServer redis;
    TempDir dir;
    Pki pki;
    Der leaf2;
    std::string t1, t2, t3;  // the digests of a text, of the text edited, of another text
    d4::test::an::RunResult imported;
    int port = 0;
    std::unique_ptr<Process> server;
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    s.leaf2 = make_certificate({{{"CN", "www2.test"}}, s.pki.inter_name, false, 9}, s.pki.leaf_key.get(),
                               s.pki.inter_key.get());
    std::string text;
    for (int i = 0; i < 40; ++i)
      text += "CN=host" + std::to_string(i * 7919 % 1000) + ".example.org,O=Example ";
    std::string edited = text;
    edited.replace(100, 10, "zzzzzzzzzz");
    std::string other;
    for (int i = 0; i < 60; ++i) other += std::to_string(i * 104729 % 99991) + "-qwerty/ASDF;";
    s.t1 = *tlsh_digest(text);
    s.t2 = *tlsh_digest(edited);
    s.t3 = *tlsh_digest(other);
    std::string lines = session_line({&s.pki.leaf, &s.pki.inter, &s.pki.root}, "192.0.2.1", s.t1) + "\n" +
                        session_line({&s.leaf2, &s.pki.inter}, "192.0.2.2", s.t2) + "\n" +
                        session_line({&s.pki.leaf}, "192.0.2.3", s.t3) + "\n" +
                        session_line({}, "192.0.2.4", "not-a-tlsh") + "\n";
    d4::test::write_text(s.dir / "s.ndjson", lines);
    s.imported = run_tool("d4-passivessl",
                          {"--storage", s.redis.endpoint(0), "import", (s.dir / "s.ndjson").string()}, s.dir);
    ASSERT_EQ(s.imported.status, 0) << s.imported.err;
    s.server = std::make_unique<Process>(
        start_server("d4-passivessl", {"--storage", s.redis.endpoint(0), "serve"}, s.port, s.dir));
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { ASSERT_TRUE(shared_ && shared_->server) << "the suite's set-up failed"; }

  static Shared& s() { return *shared_; }
  static nlohmann::json get_json(const std::string& target) {
    return nlohmann::json::parse(http_get(static_cast<std::uint16_t>(s().port), target).body);
  }
  static int get_status(const std::string& target) {
    return http_get(static_cast<std::uint16_t>(s().port), target).status;
  }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(PassiveSslQueries, ImportCountsEverySessionAndTheInvalidTlsh) {
  EXPECT_EQ(s().redis.cli({"HGET", "pssl:stats", "records"}), "4\n");
  EXPECT_EQ(s().redis.cli({"HGET", "pssl:stats", "tlsh_invalid"}), "1\n");
}

TEST_F(PassiveSslQueries, ACertificateKeepsTheBestChainSeenAndDescribesItsKey) {
  const Pki& pki = s().pki;
  // The best chain seen is kept: the third session sent the leaf alone.
  auto cert = get_json("/cert/" + sha1_hex_of(pki.leaf))["cert"];
  EXPECT_EQ(cert["chain"],
            (nlohmann::json{sha1_hex_of(pki.root), sha1_hex_of(pki.inter), sha1_hex_of(pki.leaf)}));
  EXPECT_EQ(cert["is_valid_chain"], true);
  EXPECT_EQ(cert["is_self_signed"], false);
  EXPECT_EQ(cert["issuer_sha1"], sha1_hex_of(pki.inter));
  EXPECT_FALSE(cert.contains("chain_rank"));
  EXPECT_EQ(cert["public_key"]["type"], "EC");
  EXPECT_EQ(cert["public_key"]["curve_name"], "prime256v1");
  EXPECT_EQ(cert["public_key"]["bitsize"], 256);
  EXPECT_EQ(cert["public_key"]["certificates"], 2);  // shared with leaf2
  auto root = get_json("/cert/" + sha1_hex_of(pki.root))["cert"];
  EXPECT_EQ(root["is_self_signed"], true);
  EXPECT_EQ(root["is_ca"], true);
  EXPECT_EQ(root["public_key"]["certificates"], 1);
}

TEST_F(PassiveSslQueries, ASharedPublicKeyListsTheCertificatesUsingItByPages) {
  std::string key_hash = get_json("/cert/" + sha1_hex_of(s().pki.leaf))["cert"]["spki_sha256"];
  auto key = get_json("/pubkey/" + key_hash);
  EXPECT_EQ(key["pubkey"]["type"], "EC");
  EXPECT_EQ(key["pubkey"]["count"], 3);  // seen in three sessions' certificates
  EXPECT_EQ(key["total"], 2);
  std::set<std::string> users;
  for (const auto& c : key["certificates"]) {
    users.insert(c["hash"].get<std::string>());
    EXPECT_FALSE(c.contains("raw"));
  }
  EXPECT_EQ(users, (std::set<std::string>{sha1_hex_of(s().pki.leaf), sha1_hex_of(s().leaf2)}));
  auto key_page = get_json("/pubkey/" + key_hash + "?limit=1");
  EXPECT_EQ(key_page["certificates"].size(), 1u);
  EXPECT_TRUE(key_page["truncated"].get<bool>());
}

TEST_F(PassiveSslQueries, InfoCountsPublicKeysSharedKeysAndDigests) {
  auto info = get_json("/info");
  EXPECT_EQ(info["public_keys"], 3);  // root, intermediate, the shared leaf key
  EXPECT_EQ(info["shared_public_keys"], 1);
  EXPECT_EQ(info["tlsh"], 3);
}

TEST_F(PassiveSslQueries, TlshSimilarityFindsTheNearDigestAndNotTheFarOne) {
  // The edited text is near, the other one far.
  int near = *tlsh_distance(s().t1, s().t2), far = *tlsh_distance(s().t1, s().t3);
  ASSERT_LT(near, far);
  auto sim = get_json("/tlsh/" + s().t1 + "?distance=" + std::to_string(near));
  ASSERT_EQ(sim["matches"].size(), 2u);
  EXPECT_EQ(sim["matches"][0]["tlsh"], s().t1);
  EXPECT_EQ(sim["matches"][0]["distance"], 0);
  EXPECT_EQ(sim["matches"][0]["session_ids"].size(), 1u);
  EXPECT_EQ(sim["matches"][1]["tlsh"], s().t2);
  EXPECT_EQ(sim["matches"][1]["distance"], near);
  EXPECT_EQ(sim["scanned"], 3);
  EXPECT_TRUE(sim["complete"].get<bool>());
}

TEST_F(PassiveSslQueries, TlshQueriesTakeEitherCaseAndAreLimitedToPagesThatLeadToSessions) {
  const int far = *tlsh_distance(s().t1, s().t3);
  auto sim =
      get_json("/tlsh/" + d4::text::ascii_lower(s().t1) + "?distance=" + std::to_string(far) + "&limit=1");
  EXPECT_EQ(sim["total"], 3);
  EXPECT_EQ(sim["matches"].size(), 1u);
  EXPECT_TRUE(sim["truncated"].get<bool>());
  std::string session_id = sim["matches"][0]["session_ids"][0];
  EXPECT_EQ(get_json("/session/" + session_id)["tlsh"], s().t1);
}

TEST_F(PassiveSslQueries, TlshQueriesWithABadDigestOrDistanceAreRefused) {
  EXPECT_EQ(get_status("/tlsh/xyz"), 400);
  EXPECT_EQ(get_status("/tlsh/" + s().t1 + "?distance=5000"), 400);
  EXPECT_EQ(get_status("/tlsh/" + s().t1 + "?distance=-1"), 400);
}

TEST_F(PassiveSslQueries, TheTlshScanBoundMarksTheAnswerIncomplete) {
  // With one digest allowed the answer says it is incomplete.
  d4::test::write_text(s().dir / "d4.toml", "[analyzers.tls]\ntlsh_max_scan = 1\n");
  int port = 0;
  Process bounded = start_server(
      "d4-passivessl", {"-c", (s().dir / "d4.toml").string(), "--storage", s().redis.endpoint(0), "serve"},
      port, s().dir);
  auto sim = nlohmann::json::parse(
      http_get(static_cast<std::uint16_t>(port), "/tlsh/" + s().t1 + "?distance=1000").body);
  EXPECT_FALSE(sim["complete"].get<bool>());
  EXPECT_LT(sim["scanned"].get<int>(), 3);
  bounded.stop();
}

// One import for the suite: a tree as the D4 server writes it (jsons/, certs/<sha1>.crt) with PEM
// and junk, nested; a tar.gz of a JSON file and a DER certificate; a gzip-compressed NDJSON file.
class PassiveSslInputs : public ::testing::Test {
 protected:
  struct Shared {
    RedisServer redis;
    TempDir dir;
    Pki pki;
    std::filesystem::path tree = dir / "tree";
    d4::test::an::RunResult imported;
  };

  static std::string pem(const Der& der) {
    std::string b64 = d4::protocol::base64_encode(der), out = "-----BEGIN CERTIFICATE-----\n";
    for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
    return out + "-----END CERTIFICATE-----\n";
  }
  static void write_der(const std::filesystem::path& path, const Der& der) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(der.data()), static_cast<std::streamsize>(der.size()));
  }
  static void sh(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    const Pki& pki = s.pki;
    std::filesystem::create_directories(s.tree / "jsons" / "2024");
    std::filesystem::create_directories(s.tree / "certs");
    d4::test::write_text(s.tree / "jsons" / "2024" / "a.json", session_line({&pki.leaf, &pki.inter}) + "\n");
    write_der(s.tree / "certs" / (sha1_hex_of(pki.root) + ".crt"), pki.root);
    d4::test::write_text(s.tree / "chain.pem", "some text before\n" + pem(pki.inter) + pem(pki.fake));
    d4::test::write_text(s.tree / "notes.txt", "not a certificate\n");
    auto staging = s.dir / "staging";
    std::filesystem::create_directories(staging / "sub");
    d4::test::write_text(staging / "sub" / "b.json", session_line({&pki.leaf}, "192.0.2.9") + "\n");
    write_der(staging / "sub" / "leaf.crt", pki.leaf);
    ASSERT_NO_FATAL_FAILURE(
        sh("tar -C " + staging.string() + " -czf " + (s.dir / "bundle.tar.gz").string() + " sub"));
    d4::test::write_text(s.dir / "c.ndjson",
                         session_line({}, "192.0.2.10") + "\n" + session_line({}, "192.0.2.11"));
    ASSERT_NO_FATAL_FAILURE(sh("gzip -k " + (s.dir / "c.ndjson").string()));
    s.imported = run_tool("d4-passivessl",
                          {"--storage", s.redis.endpoint(0), "import", s.tree.string(),
                           (s.dir / "bundle.tar.gz").string(), (s.dir / "c.ndjson.gz").string()},
                          s.dir);
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(shared_) << "the suite's set-up failed";
    ASSERT_EQ(s().imported.status, 0) << s().imported.err;
  }

  static Shared& s() { return *shared_; }
  static std::string cli(const std::vector<std::string>& args, int db = 0) { return s().redis.cli(args, db); }

 private:
  static inline std::unique_ptr<Shared> shared_;
};

TEST_F(PassiveSslInputs, ImportReadsSessionsAndCertificatesFromDirectoriesArchivesAndGzipFiles) {
  EXPECT_EQ(cli({"HGET", "pssl:stats", "records"}), "4\n");
  // root.crt, two PEM certificates, leaf.crt from the archive.
  EXPECT_EQ(cli({"HGET", "pssl:stats", "certificates_imported"}), "4\n");
  EXPECT_EQ(cli({"HGET", "pssl:stats", "rejected:unknown_format"}), "1\n");
  EXPECT_EQ(cli({"ZCARD", "pssl:idx:ip:192.0.2.11"}), "1\n");
  EXPECT_EQ(cli({"HGET", "pssl:cert:" + sha1_hex_of(s().pki.leaf), "count"}), "2\n");  // two sessions
  EXPECT_EQ(cli({"ZSCORE", "pssl:all:pubkey", certificate_from_der(s().pki.leaf)->spki_sha256}), "1\n");
}

TEST_F(PassiveSslInputs, ACertificateFromAFileKeepsItsPathAndCountsNoSession) {
  const Pki& pki = s().pki;
  const std::string root_key = "pssl:cert:" + sha1_hex_of(pki.root);
  EXPECT_EQ(cli({"HGET", root_key, "path"}),
            (s().tree / "certs" / (sha1_hex_of(pki.root) + ".crt")).string() + "\n");
  EXPECT_EQ(cli({"HGET", root_key, "is_self_signed"}), "1\n");
  EXPECT_EQ(cli({"HGET", root_key, "count"}), "0\n");  // a file is not a session
  EXPECT_EQ(cli({"HEXISTS", root_key, "first_seen"}), "0\n");
  EXPECT_EQ(cli({"HGET", "pssl:cert:" + sha1_hex_of(pki.fake), "path"}),
            (s().tree / "chain.pem").string() + "\n");
  EXPECT_EQ(cli({"HGET", "pssl:cert:" + sha1_hex_of(pki.leaf), "path"}),
            (s().dir / "bundle.tar.gz").string() + ":sub/leaf.crt\n");
}

TEST_F(PassiveSslInputs, ATruncatedArchiveIsReportedAndCounted) {
  auto whole = read_text(s().dir / "bundle.tar.gz");
  d4::test::write_text(s().dir / "broken.tar.gz", whole.substr(0, whole.size() / 2));
  auto r =
      run_tool("d4-passivessl",
               {"--storage", s().redis.endpoint(0), "import", (s().dir / "broken.tar.gz").string()}, s().dir);
  EXPECT_EQ(r.status, 66) << "some input could not be read: " << r.err;
  EXPECT_EQ(cli({"HGET", "pssl:stats", "rejected:bad_archive"}), "1\n");
}

TEST_F(PassiveSslInputs, AQueueElementMayNameACertificateFile) {
  cli({"LPUSH", "analyzer:ja3-jl:q", (s().tree / "certs" / (sha1_hex_of(s().pki.root) + ".crt")).string()},
      2);
  auto r = run_tool("d4-passivessl",
                    {"--storage", s().redis.endpoint(0), "ingest", "-u", "q", "--analyzer-redis",
                     s().redis.endpoint(2), "--exit-when-empty"},
                    s().dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(cli({"HGET", "pssl:stats", "certificates_imported"}), "5\n");
}

// d4-passivessl on a real 3-master Redis Cluster: a public key's hash, its certificate set and the
// all-keys zset lie in three slots there, so the key is written in per-slot steps (the script on
// the hash, then the set, then the count in a second pipeline) instead of one script. The same
// sessions, imported twice, give exactly the store they give on one Redis, key reuse included.
TEST(PassiveSslCluster, SessionsImportedIntoAClusterGiveTheSameStoreAsOnOneRedis) {
  TempDir dir;
  Pki pki;
  // A second leaf with the first leaf's key (a renewal without a new key).
  Der leaf2 = make_certificate({{{"CN", "www2.test"}}, pki.inter_name, false, 9}, pki.leaf_key.get(),
                               pki.inter_key.get());
  d4::test::write_text(dir / "s.ndjson", session_line({&pki.leaf, &pki.inter, &pki.root}, "192.0.2.1") +
                                             "\n" + session_line({&leaf2, &pki.inter}, "192.0.2.2") + "\n" +
                                             session_line({&pki.leaf}, "192.0.2.3") + "\n");
  RedisServer single;
  d4::test::RedisCluster cluster;
  ASSERT_TRUE(cluster.wait_ok());
  const std::string seeds = "redis-cluster://" + cluster.seeds();
  for (const std::string& storage : {single.endpoint(0), seeds})
    for (int run = 0; run < 2; ++run) {  // twice: counters grow, a key's certificate count does not
      auto r = run_tool("d4-passivessl", {"--storage", storage, "import", (dir / "s.ndjson").string()}, dir);
      ASSERT_EQ(r.status, 0) << storage << ": " << r.err;
    }

  d4::core::RedisClient on_cluster_client(*d4::core::RedisEndpoint::parse(seeds));
  const std::string key_hash =
      on_cluster_client.command({"HGET", "pssl:cert:" + sha1_hex_of(pki.leaf), "spki_sha256"}).str;
  ASSERT_EQ(key_hash.size(), 64u);
  const std::set<int> slots{d4::core::cluster_key_slot("pssl:pubkey:" + key_hash),
                            d4::core::cluster_key_slot("pssl:pubkey_certs:" + key_hash),
                            d4::core::cluster_key_slot("pssl:all:pubkey")};
  EXPECT_EQ(slots.size(), 3u) << "the script's three keys are in three slots";
  EXPECT_EQ(on_cluster_client.command({"ZSCORE", "pssl:all:pubkey", key_hash}).str, "2")
      << "two certificates";
  EXPECT_EQ(on_cluster_client.command({"HGET", "pssl:pubkey:" + key_hash, "count"}).str, "6")
      << "three sessions, imported twice";

  std::map<std::string, std::string> on_single, on_cluster;
  const auto every_key = [](const std::string&) { return true; };
  dump_node(node_endpoint(single.port()), on_single, every_key);
  std::set<int> masters;
  for (std::size_t n = 0; n < cluster.size(); ++n) {
    std::map<std::string, std::string> of_node;
    dump_node(node_endpoint(cluster.node(n).port()), of_node, every_key);
    if (!of_node.empty()) masters.insert(static_cast<int>(n));
    on_cluster.insert(of_node.begin(), of_node.end());
  }
  ASSERT_EQ(on_single.at("pssl:all:pubkey").substr(0, 5), "zset ");
  EXPECT_EQ(on_cluster, on_single);
  EXPECT_EQ(masters.size(), 3u) << "the store is spread over every master";
}
