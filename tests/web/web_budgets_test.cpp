// d4-web under abuse: login throttling per (user, source) behind a trusted reverse proxy, the
// bound on concurrent password checks, role limits on blocks, registration and token budgets,
// and the HTTP server's per-address connection limit and header/body deadlines. The real binary
// against a real redis-server; 127.0.0.2 plays a second client on loopback.
#include <gtest/gtest.h>
#include <poll.h>

#include <sodium.h>

#include <boost/asio.hpp>

#include <atomic>
#include <thread>

#include "protocol/clock.hpp"
#include "support/process.hpp"
#include "web_fixture.hpp"

using d4::webtest::bearer_client;
using d4::webtest::Client;
using d4::webtest::HttpResult;
using d4::webtest::kAdmin;
using d4::webtest::kFirstPassword;
using d4::webtest::kPassword;
using d4::webtest::kUserPassword;
using d4::webtest::start_web;
using d4::webtest::WebInstance;
using nlohmann::json;
using Admin = d4::webtest::SignedInAdmin;
namespace asio = boost::asio;

namespace {

json web_counters(WebInstance& web, const std::string& token) {
  auto h = bearer_client(web, token, "127.0.0.3").get("/api/v1/health");
  EXPECT_EQ(h.status, 200) << h.body;
  return h.json()["web"];
}

// A login from `source_ip`, optionally through a proxy header.
HttpResult login_from(WebInstance& web, const std::string& source_ip, const std::string& user,
                      const std::string& password, const std::map<std::string, std::string>& headers = {}) {
  Client c = web.client();
  c.source_ip = source_ip;
  auto page = c.get("/login", headers);
  std::string marker = "name=\"csrf_token\" value=\"";
  auto p = page.body.find(marker) + marker.size();
  std::string token = page.body.substr(p, page.body.find('"', p) - p);
  return c.form("/login", {{"username", user}, {"password", password}, {"next", "/"}, {"csrf_token", token}},
                headers);
}

bool refused_as_throttled(const HttpResult& r) {
  return r.status == 303 && r.header("Location").find("Too%20many") != std::string::npos;
}

// Every key of the cache db matching `pattern` gets its delay ended (as if time had passed).
void end_delays(WebInstance& web, const std::string& pattern) {
  for (const auto& k : web.cache().command({"KEYS", pattern}).as_strings())
    web.cache().command({"HSET", k, "until", "0"});
}

// The delays set on the keys matching `pattern`, from their expiry: a failure sets EXPIRE to the
// failure window plus the delay, so the delay is the remaining time minus the window, rounded up
// (less than a second passes between the failure and this look).
std::vector<long long> delays_of(WebInstance& web, const std::string& pattern, long long window = 300) {
  std::vector<long long> out;
  for (const auto& k : web.cache().command({"KEYS", pattern}).as_strings()) {
    if (!web.cache().command({"HGET", k, "until"}).as_integer()) continue;
    long long ms = web.cache().command({"PTTL", k}).integer - window * 1000;
    out.push_back((ms + 999) / 1000);
  }
  return out;
}

// The delays of the keys matching `pattern` end `seconds` from now.
void extend_delays(WebInstance& web, const std::string& pattern, long long seconds) {
  for (const auto& k : web.cache().command({"KEYS", pattern}).as_strings())
    web.cache().command({"HSET", k, "until", std::to_string(d4::clock::unix_seconds() + seconds)});
}

long long wait_reported(const HttpResult& r) {
  auto loc = r.header("Location");
  auto p = loc.find("wait%20");
  if (p == std::string::npos) return -1;
  return std::stoll(loc.substr(p + 7));
}

}  // namespace

// ---------------------------------------------------------------- login throttling

TEST(WebLoginThrottle, FailuresDelayOnlyThatUserFromThatSourceNotTheAdminElsewhere) {
  auto web = start_web("");
  for (int i = 0; i < 5; ++i) {
    auto r = login_from(*web, "127.0.0.1", kAdmin, "Wrong-Pass-" + std::to_string(i) + "00");
    EXPECT_NE(r.header("Location").find("Wrong"), std::string::npos) << r.header("Location");
  }
  EXPECT_EQ(delays_of(*web, "d4:web:login_failures:127.0.0.1:*"), std::vector<long long>{1});
  // While that delay runs (made long so that a slow machine cannot outlive it), the source waits,
  // even with the right password...
  extend_delays(*web, "d4:web:login_failures:127.0.0.1:*", 600);
  auto r = login_from(*web, "127.0.0.1", kAdmin, kFirstPassword);
  EXPECT_TRUE(refused_as_throttled(r)) << r.header("Location");
  EXPECT_GE(wait_reported(r), 590);
  // ...but the admin signs in from anywhere else: failures elsewhere lock nobody out.
  EXPECT_EQ(login_from(*web, "127.0.0.2", kAdmin, kFirstPassword).header("Location"), "/change_password");
  // The reference's global keys are not written any more.
  EXPECT_EQ(web->cache().command({"EXISTS", "failed_login_ip:127.0.0.1"}).integer, 0);
  EXPECT_EQ(web->cache().command({"EXISTS", std::string("failed_login_user_id:") + kAdmin}).integer, 0);
}

TEST(WebLoginThrottle, DelayDoublesWithEachFurtherFailureUpToTheMaximum) {
  auto web = start_web("login_max_failures = 2\nlogin_delay_max = 4\n");
  const std::string pair = "d4:web:login_failures:127.0.0.1:*";
  login_from(*web, "127.0.0.1", kAdmin, "Wrong-Pass-100");
  EXPECT_TRUE(delays_of(*web, pair).empty()) << "the first failure costs no delay";
  login_from(*web, "127.0.0.1", kAdmin, "Wrong-Pass-200");
  std::vector<long long> delays = delays_of(*web, pair);
  for (int i = 0; i < 3; ++i) {
    end_delays(*web, pair);
    login_from(*web, "127.0.0.1", kAdmin, "Wrong-Pass-" + std::to_string(i) + "11");
    auto d = delays_of(*web, pair);
    delays.insert(delays.end(), d.begin(), d.end());
  }
  // 1 s, 2 s, 4 s, then capped at login_delay_max = 4 s.
  EXPECT_EQ(delays, (std::vector<long long>{1, 2, 4, 4}));
  // An attempt during a delay is refused without a check and says how long to wait.
  extend_delays(*web, pair, 100);
  auto r = login_from(*web, "127.0.0.1", kAdmin, kFirstPassword);
  ASSERT_TRUE(refused_as_throttled(r)) << r.header("Location");
  EXPECT_GE(wait_reported(r), 90);
  // Once the delay is over the right password works and clears the pair's failures.
  end_delays(*web, "d4:web:login_failures:127.0.0.1*");
  EXPECT_EQ(login_from(*web, "127.0.0.1", kAdmin, kFirstPassword).header("Location"), "/change_password");
  EXPECT_EQ(web->cache().command({"KEYS", pair}).elements.size(), 0u);
}

TEST(WebLoginThrottle, OneSourceTryingManyUsersIsDelayedForAll) {
  auto web = start_web("login_source_max_failures = 3\n");
  for (int i = 0; i < 3; ++i)
    login_from(*web, "127.0.0.1", "user" + std::to_string(i) + "@example.test", "Wrong-Pass-00");
  EXPECT_EQ(delays_of(*web, "d4:web:login_failures:127.0.0.1"), std::vector<long long>{1});
  extend_delays(*web, "d4:web:login_failures:127.0.0.1", 600);  // outlives a slow machine
  EXPECT_TRUE(refused_as_throttled(login_from(*web, "127.0.0.1", "other@example.test", "Wrong-Pass-00")));
  EXPECT_TRUE(refused_as_throttled(login_from(*web, "127.0.0.1", kAdmin, kFirstPassword)));
  EXPECT_EQ(login_from(*web, "127.0.0.2", kAdmin, kFirstPassword).header("Location"), "/change_password");
}

TEST(WebLoginThrottle, CurrentPasswordOfAPasswordChangeIsThrottledToo) {
  auto web = start_web("login_max_failures = 3\n");
  Admin a(*web);
  for (int i = 0; i < 3; ++i) {
    auto r = a.session.call(
        "POST", "/api/v1/me/password",
        {{"current_password", "Wrong-Pass-" + std::to_string(i) + "0"}, {"new_password", "New-Pass-0099"}});
    EXPECT_EQ(r.status, 400) << r.body;
  }
  extend_delays(*web, "d4:web:login_failures:127.0.0.1:*", 600);  // outlives a slow machine
  // Refused without checking, even with the right current password.
  auto r = a.session.call("POST", "/api/v1/me/password",
                          {{"current_password", kPassword}, {"new_password", "New-Pass-0099"}});
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.json()["reason"].get<std::string>().rfind("too many wrong passwords; wait ", 0), 0u);
  auto form = a.session.form("/change_password", {{"csrf_token", a.session.csrf},
                                                  {"current_password", kPassword},
                                                  {"password1", "New-Pass-0099"},
                                                  {"password2", "New-Pass-0099"}});
  EXPECT_NE(form.header("Location").find("Too%20many"), std::string::npos) << form.header("Location");
  EXPECT_EQ(login_from(*web, "127.0.0.2", kAdmin, kPassword).header("Location"), "/")
      << "the password did not change";
  auto counters = web_counters(*web, a.token);
  EXPECT_EQ(counters["login_failures"], 3);
  EXPECT_EQ(counters["login_delayed"], 2);
}

// ---------------------------------------------------------------- trusted proxies

TEST(WebTrustedProxy, ForwardedForNamesTheClientOnlyWhenThePeerIsATrustedProxy) {
  auto web = start_web("trusted_proxies = [\"127.0.0.1/32\"]\n");
  auto via = [](const std::string& xff) {
    return std::map<std::string, std::string>{{"X-Forwarded-For", xff}};
  };
  for (int i = 0; i < 5; ++i) login_from(*web, "127.0.0.1", kAdmin, "Wrong-Pass-00", via("198.51.100.7"));
  EXPECT_EQ(web->cache().command({"EXISTS", "d4:web:login_failures:198.51.100.7"}).integer, 1);
  extend_delays(*web, "d4:web:login_failures:198.51.100.7*", 600);  // outlives a slow machine
  EXPECT_EQ(web->cache().command({"EXISTS", "d4:web:login_failures:127.0.0.1"}).integer, 0)
      << "the proxy itself is not throttled";
  EXPECT_TRUE(
      refused_as_throttled(login_from(*web, "127.0.0.1", kAdmin, kFirstPassword, via("198.51.100.7"))));
  // A client cannot escape by prepending an address: the proxy appended the real one last.
  EXPECT_TRUE(refused_as_throttled(
      login_from(*web, "127.0.0.1", kAdmin, kFirstPassword, via("198.51.100.8, 198.51.100.7"))));
  // Another client behind the same proxy is not affected.
  EXPECT_EQ(login_from(*web, "127.0.0.1", kAdmin, kFirstPassword, via("198.51.100.8")).header("Location"),
            "/change_password");
  // A peer that is no trusted proxy is the client, whatever header it sends.
  login_from(*web, "127.0.0.2", kAdmin, "Wrong-Pass-00", via("198.51.100.9"));
  EXPECT_EQ(web->cache().command({"EXISTS", "d4:web:login_failures:127.0.0.2"}).integer, 1);
  EXPECT_EQ(web->cache().command({"EXISTS", "d4:web:login_failures:198.51.100.9"}).integer, 0);
}

TEST(WebTrustedProxy, Rfc7239ForwardedHeaderAndIpv6SourcesAggregatedPer64) {
  auto web = start_web("trusted_proxies = [\"127.0.0.0/8\"]\ntrusted_proxy_header = \"Forwarded\"\n");
  login_from(*web, "127.0.0.1", kAdmin, "Wrong-Pass-00",
             {{"Forwarded", "for=\"[2001:db8:1:2::1]:4711\";proto=https, for=127.0.0.5"}});
  EXPECT_EQ(web->cache().command({"EXISTS", "d4:web:login_failures:2001:db8:1:2::/64"}).integer, 1);
  // X-Forwarded-For is not the configured header: ignored.
  login_from(*web, "127.0.0.1", kAdmin, "Wrong-Pass-00", {{"X-Forwarded-For", "192.0.2.44"}});
  EXPECT_EQ(web->cache().command({"EXISTS", "d4:web:login_failures:192.0.2.44"}).integer, 0);
  EXPECT_EQ(web->cache().command({"EXISTS", "d4:web:login_failures:127.0.0.1"}).integer, 1);
}

// ---------------------------------------------------------------- concurrent password checks

TEST(WebPasswordChecks, BeyondTheConcurrencyBoundLoginsGet503AndAreCounted) {
  auto web = start_web("max_concurrent_password_checks = 1\nthreads = 4\n");
  Admin a(*web);
  // A user whose stored hash is costly to verify (Argon2id at 8 passes over 64 MiB, like a hash
  // from a stronger configuration): each check holds the single slot for a while.
  ASSERT_EQ(sodium_init() >= 0, true);
  char hash[crypto_pwhash_STRBYTES];
  std::string pw = "Slow-Pass-0042";
  ASSERT_EQ(crypto_pwhash_str_alg(hash, pw.data(), pw.size(), 8, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                                  crypto_pwhash_ALG_ARGON2ID13),
            0);
  web->users().command({"HSET", "user:all", "slow@example.test", hash});
  web->users().command({"HSET", "user_metadata:slow@example.test", "role", "user"});
  std::atomic<int> busy{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i)
    clients.emplace_back([&, i] {
      auto r = login_from(*web, "127.0.0." + std::to_string(10 + i), "slow@example.test", "Wrong-Pass-00");
      if (r.status == 503) {
        EXPECT_EQ(r.header("Retry-After"), "1");
        EXPECT_NE(r.body.find("busy"), std::string::npos);
        ++busy;
      }
    });
  for (auto& t : clients) t.join();
  ASSERT_GT(busy.load(), 0) << "six simultaneous slow checks on four threads with one slot";
  EXPECT_EQ(web_counters(*web, a.token)["password_checks_busy"], busy.load());
}

// ---------------------------------------------------------------- roles and blocks

TEST(WebBlocks, NobodyMayBlockEveryAddress) {
  auto web = start_web("");
  Admin a(*web);
  Client c = bearer_client(*web, a.token);
  for (const char* all : {"0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96", "10.0.0.0/0"}) {
    auto r = c.call("POST", "/api/v1/server/blocklist/ips", {{"ip", all}});
    EXPECT_EQ(r.status, 400) << all;
    EXPECT_NE(r.json()["reason"].get<std::string>().find("every address"), std::string::npos) << r.body;
  }
  EXPECT_EQ(web->meta().command({"SCARD", "blacklist_ip"}).integer, 0);
  EXPECT_EQ(web_counters(*web, a.token)["blocks_refused"], 4);
  // An entry written by another tool can still be removed.
  web->meta().command({"SADD", "blacklist_ip", "0.0.0.0/0"});
  EXPECT_EQ(c.call("DELETE", "/api/v1/server/blocklist/ips?ip=0.0.0.0%2F0").status, 200);
}

TEST(WebBlocks, NetworksWiderThanTheUserBoundNeedTheAdminRole) {
  auto web = start_web("user_block_min_prefix_v4 = 20\n");
  Admin a(*web);
  Client u = bearer_client(*web, a.make_user("user@example.test", "user"));
  Client adm = bearer_client(*web, a.token);
  auto wide = u.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "10.0.0.0/16"}});
  EXPECT_EQ(wide.status, 403);
  EXPECT_EQ(wide.json()["reason"], "a network wider than /20 needs the admin role");
  EXPECT_EQ(u.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "10.0.0.0/20"}}).status, 200);
  EXPECT_EQ(u.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "192.0.2.1"}}).status, 200);
  EXPECT_EQ(u.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "2001:db8::/32"}}).status, 403);
  EXPECT_EQ(u.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "2001:db8::/48"}}).status, 200);
  EXPECT_EQ(adm.call("POST", "/api/v1/server/blocklist/ips", {{"ip", "10.0.0.0/16"}}).status, 200);
  EXPECT_EQ(u.call("DELETE", "/api/v1/server/blocklist/ips?ip=10.0.0.0%2F16").status, 403);
  EXPECT_EQ(adm.call("DELETE", "/api/v1/server/blocklist/ips?ip=10.0.0.0%2F16").status, 200);
  EXPECT_EQ(web_counters(*web, a.token)["blocks_refused"], 3);
}

TEST(WebRoles, UserPagesOfferNoSensorOrQueueActionsReservedToAdmins) {
  auto web = start_web("");
  Admin a(*web);
  a.make_user("user@example.test", "user");
  const std::string sensor = "0123456789ab4def8123456789abcdef";
  web->meta().command({"HSET", "metadata_uuid:" + sensor, "first_seen", "1"});
  web->stream().command({"SADD", "active_connection", sensor});
  auto q = bearer_client(*web, a.token).call("POST", "/api/v1/server/types", {{"type", 8}});
  ASSERT_EQ(q.status, 200);
  auto queue = bearer_client(*web, a.token).call("POST", "/api/v1/queues", {{"type", 8}});
  ASSERT_EQ(queue.status, 200) << queue.body;
  std::string qid = queue.json()["queue"]["id"];
  Client u = web->client();
  ASSERT_EQ(u.login("user@example.test", kUserPassword).header("Location"), "/");
  auto page = u.get("/sensors/" + sensor);
  ASSERT_EQ(page.status, 200);
  for (const char* action : {"/kick", "/block\"", "/block-ips", "/backlog"})
    EXPECT_EQ(page.body.find(std::string("/api/v1/sensors/") + sensor + action), std::string::npos) << action;
  EXPECT_NE(page.body.find("/description"), std::string::npos) << "what the user may do is offered";
  auto qpage = u.get("/queues/" + qid);
  ASSERT_EQ(qpage.status, 200);
  EXPECT_EQ(qpage.body.find("/empty"), std::string::npos);
  EXPECT_EQ(qpage.body.find("data-method=\"DELETE\""), std::string::npos);
  auto admin_page = a.session.get("/sensors/" + sensor);
  EXPECT_NE(admin_page.body.find(std::string("/api/v1/sensors/") + sensor + "/block-ips"), std::string::npos);
}

// ---------------------------------------------------------------- registration and token budgets

TEST(WebRegistration, DescriptionLengthAndPendingRegistrationsAreBounded) {
  auto web = start_web("max_pending_registrations = 2\nmax_description_length = 10\n");
  Admin a(*web);
  Client reg = bearer_client(*web, a.make_user("register@example.test", "sensor_register"));
  auto uuid = [](int i) { return "0123456789ab4def8123456789abcde" + std::to_string(i); };
  auto long_desc = reg.call("POST", "/api/v1/add/sensor/register",
                            {{"uuid", uuid(1)}, {"hmac_key", "k"}, {"description", std::string(11, 'd')}});
  EXPECT_EQ(long_desc.status, 400);
  EXPECT_EQ(long_desc.json()["reason"], "the description is longer than 10 characters");
  EXPECT_EQ(web->meta().command({"EXISTS", "metadata_uuid:" + uuid(1)}).integer, 0) << "nothing stored";
  EXPECT_EQ(reg.call("POST", "/api/v1/add/sensor/register",
                     {{"uuid", uuid(1)}, {"hmac_key", "k"}, {"description", std::string(10, 'd')}})
                .status,
            200);
  EXPECT_EQ(reg.call("POST", "/api/v1/add/sensor/register", {{"uuid", uuid(2)}, {"hmac_key", "k"}}).status,
            200);
  auto full = reg.call("POST", "/api/v1/add/sensor/register", {{"uuid", uuid(3)}, {"hmac_key", "k"}});
  EXPECT_EQ(full.status, 429);
  EXPECT_EQ(full.json()["reason"],
            "too many pending registrations (2); an admin must approve or reject some first");
  EXPECT_EQ(web->meta().command({"EXISTS", "metadata_uuid:" + uuid(3)}).integer, 0);
  // Approving one makes room.
  ASSERT_EQ(bearer_client(*web, a.token).call("POST", "/api/v1/sensors/" + uuid(1) + "/approve").status, 200);
  EXPECT_EQ(reg.call("POST", "/api/v1/add/sensor/register", {{"uuid", uuid(3)}, {"hmac_key", "k"}}).status,
            200);
  EXPECT_EQ(web_counters(*web, a.token)["registrations_refused"], 2);
}

TEST(WebTokens, ASensorRegisterTokenCannotMintTokens) {
  auto web = start_web("");
  Admin a(*web);
  Client reg = bearer_client(*web, a.make_user("register@example.test", "sensor_register"));
  auto r = reg.call("POST", "/api/v1/me/tokens", {{"name", "more"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(web->users().command({"HLEN", "d4:user_tokens:register@example.test"}).integer, 1);
}

TEST(WebTokens, TokensPerUserAreBoundedAndCounted) {
  auto web = start_web("max_tokens_per_user = 2\n");
  Admin a(*web);
  Client u = bearer_client(*web, a.make_user("user@example.test", "user"));  // token 1
  auto second = u.call("POST", "/api/v1/me/tokens", {{"name", "two"}});
  ASSERT_EQ(second.status, 200);
  auto third = u.call("POST", "/api/v1/me/tokens", {{"name", "three"}});
  EXPECT_EQ(third.status, 409);
  EXPECT_EQ(third.json()["reason"], "this account already has 2 API tokens (the limit); revoke one first");
  EXPECT_EQ(bearer_client(*web, a.token).call("POST", "/api/v1/users/user@example.test/tokens").status, 409);
  ASSERT_EQ(u.call("DELETE", "/api/v1/me/tokens/" + second.json()["id"].get<std::string>()).status, 200);
  EXPECT_EQ(u.call("POST", "/api/v1/me/tokens", {{"name", "again"}}).status, 200);
  EXPECT_EQ(web_counters(*web, a.token)["tokens_refused"], 2);
}

// ---------------------------------------------------------------- HTTP connection budgets

namespace {
// A raw TCP connection from `source_ip`; returns whether the server closed it within `within`.
bool closed_by_server(asio::ip::tcp::socket& s, std::chrono::milliseconds within) {
  s.non_blocking(true);
  auto deadline = std::chrono::steady_clock::now() + within;
  char buf[256];
  for (;;) {
    boost::system::error_code ec;
    s.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::eof || ec == asio::error::connection_reset) return true;
    if (ec && ec != asio::error::would_block) return true;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{s.native_handle(), POLLIN, 0};  // woken by data, the FIN or the reset
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}
asio::ip::tcp::socket raw_connection(asio::io_context& io, int port, const std::string& source_ip) {
  asio::ip::tcp::socket s(io);
  s.open(asio::ip::tcp::v4());
  s.bind({asio::ip::make_address(source_ip), 0});
  s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  return s;
}
}  // namespace

TEST(WebHttpBudgets, OneAddressCannotHoldMoreThanItsConnections) {
  auto web = start_web("max_connections_per_ip = 3\n", /*tls=*/false);
  Admin a(*web);
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> held;
  for (int i = 0; i < 3; ++i) held.push_back(raw_connection(io, web->port(), "127.0.0.4"));
  auto extra = raw_connection(io, web->port(), "127.0.0.4");
  EXPECT_TRUE(closed_by_server(extra, std::chrono::milliseconds(3000))) << "the fourth connection is refused";
  // Other addresses are still served, and the refusal is counted.
  EXPECT_EQ(web_counters(*web, a.token)["connections_refused_per_ip"], 1);
  for (auto& s : held) s.close();
  Client again = web->client();
  again.source_ip = "127.0.0.4";
  EXPECT_TRUE(d4::test::eventually([&] {
    try {
      return again.get("/login").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

TEST(WebHttpBudgets, SlowHeaderAndSlowBodyAreCutAtTheirDeadlines) {
  auto web = start_web("header_timeout = 1\nbody_timeout = 1\n", /*tls=*/false);
  Admin a(*web);
  asio::io_context io;
  auto slow_header = raw_connection(io, web->port(), "127.0.0.2");
  asio::write(slow_header, asio::buffer(std::string("GET /login HTTP/1.1\r\nHost: x\r\n")));
  auto slow_body = raw_connection(io, web->port(), "127.0.0.2");
  asio::write(slow_body, asio::buffer(std::string(
                             "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             "application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nab")));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_server(slow_header, std::chrono::milliseconds(5000)));
  EXPECT_TRUE(closed_by_server(slow_body, std::chrono::milliseconds(5000)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(4000));
  auto counters = web_counters(*web, a.token);
  EXPECT_EQ(counters["header_timeouts"], 1);
  EXPECT_EQ(counters["body_timeouts"], 1);
}

TEST(WebHttpBudgets, SilentTlsClientIsCutAtTheHeaderDeadline) {
  auto web = start_web("header_timeout = 1\n");
  Admin a(*web);
  asio::io_context io;
  auto silent = raw_connection(io, web->port(), "127.0.0.2");
  EXPECT_TRUE(closed_by_server(silent, std::chrono::milliseconds(5000))) << "no TLS handshake";
  EXPECT_EQ(web_counters(*web, a.token)["header_timeouts"], 1);
}
