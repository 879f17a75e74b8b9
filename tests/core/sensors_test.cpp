// The sensor-policy library against a real redis-server: reference-compatible key layout,
// normalisation, verbatim keys, CIDR entries, kicks and reject read-back.
#include <gtest/gtest.h>

#include "core/keys.hpp"
#include "core/sensors.hpp"
#include "support/redis_server.hpp"

using namespace d4::core;

namespace {

constexpr const char* kDashed = "8BD5B2B2-3C8A-4A39-9A5E-1A4F1F2B7C01";
constexpr const char* kUuid = "8bd5b2b23c8a4a399a5e1a4f1f2b7c01";

struct Fixture : ::testing::Test {
  d4::test::RedisServer redis;
  RedisClient meta{*RedisEndpoint::parse(redis.endpoint(0))};
  RedisClient stream{*RedisEndpoint::parse(redis.endpoint(1))};
  SensorPolicy policy{meta, stream};
};

}  // namespace

TEST_F(Fixture, RegistrationFollowsTheReferenceRules) {
  auto r = policy.register_sensor(kDashed, "k&<ey>'\"", "ops@example.org", "rack 3", true);
  ASSERT_TRUE(r) << r.message;
  EXPECT_EQ(r.value, kUuid);
  // Stored verbatim: the reference HTML-escaped keys, which broke sensors using & < > " '.
  EXPECT_EQ(redis.cli({"HGET", std::string("metadata_uuid:") + kUuid, "hmac_key"}), "k&<ey>'\"\n");
  EXPECT_EQ(redis.cli({"HGET", std::string("metadata_uuid:") + kUuid, "description"}), "rack 3\n");
  EXPECT_EQ(redis.cli({"SISMEMBER", "sensor_pending_registration", kUuid}), "1\n");
  EXPECT_EQ(policy.pending(), std::vector<std::string>{kUuid});
  EXPECT_EQ(policy.register_sensor(kUuid, "x").code, PolicyResult::Code::Conflict);
  EXPECT_EQ(policy.register_sensor("not-a-uuid", "x").code, PolicyResult::Code::Invalid);
  // Version 1 UUID: the server only accepts v4.
  EXPECT_EQ(policy.register_sensor("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "x").code,
            PolicyResult::Code::Invalid);
  EXPECT_EQ(policy.register_sensor("0f6c2a4e-5d3b-4c2a-9e1f-2b3c4d5e6f70", "").code,
            PolicyResult::Code::Invalid);

  ASSERT_TRUE(policy.approve(kDashed));
  EXPECT_EQ(policy.approve(kUuid).code, PolicyResult::Code::Conflict);
  EXPECT_EQ(redis.cli({"SISMEMBER", "registered_uuid", kUuid}), "1\n");
  EXPECT_EQ(redis.cli({"SISMEMBER", "sensor_pending_registration", kUuid}), "0\n");
  EXPECT_EQ(policy.reject_pending(kUuid).code, PolicyResult::Code::Conflict);
  ASSERT_TRUE(policy.unregister(kUuid));
  EXPECT_EQ(policy.unregister(kUuid).code, PolicyResult::Code::NotFound);
}

TEST_F(Fixture, KeysAreVerbatimAndRotationGeneratesStrongKeys) {
  ASSERT_TRUE(policy.set_key(kDashed, "a key with spaces & <tags>"));
  EXPECT_EQ(redis.cli({"HGET", std::string("metadata_uuid:") + kUuid, "hmac_key"}),
            "a key with spaces & <tags>\n");
  EXPECT_FALSE(policy.set_key(kUuid, ""));
  EXPECT_FALSE(policy.set_key(kUuid, std::string("a\0b", 3)));
  EXPECT_FALSE(policy.set_key(kUuid, "trailing newline\n"));
  auto rot = policy.rotate_key(kUuid);
  ASSERT_TRUE(rot);
  EXPECT_EQ(rot.value.size(), 40u);
  EXPECT_EQ(redis.cli({"HGET", std::string("metadata_uuid:") + kUuid, "hmac_key"}), rot.value + "\n");
  EXPECT_NE(policy.rotate_key(kUuid).value, rot.value);
  ASSERT_TRUE(policy.clear_key(kUuid));
  EXPECT_EQ(redis.cli({"HEXISTS", std::string("metadata_uuid:") + kUuid, "hmac_key"}), "0\n");
  ASSERT_TRUE(policy.set_default_key("private key to change"));
  EXPECT_EQ(redis.cli({"GET", "server:hmac_default_key"}), "private key to change\n");
}

TEST_F(Fixture, BlocklistsStoreCanonicalEntriesIncludingCidr) {
  auto r = policy.block_ip("10.1.2.3/8");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value, "10.0.0.0/8");
  ASSERT_TRUE(policy.block_ip("2001:db8::/32"));
  ASSERT_TRUE(policy.block_ip("::ffff:192.0.2.1"));
  EXPECT_FALSE(policy.block_ip("10.0.0.0/40"));
  EXPECT_EQ(policy.blocked_ips(), (std::vector<std::string>{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"}));
  EXPECT_EQ(redis.cli({"SCARD", "blacklist_ip"}), "3\n") << "ranges are never expanded";
  ASSERT_TRUE(policy.unblock_ip("10.0.0.0/8"));
  EXPECT_EQ(policy.unblock_ip("10.0.0.0/8").code, PolicyResult::Code::NotFound);

  ASSERT_TRUE(policy.block_uuid(kDashed));
  EXPECT_EQ(policy.blocked_uuids(), std::vector<std::string>{kUuid}) << "stored dashless";
  // Entries the reference UI stored as typed (dashed) are removed too.
  redis.cli({"SADD", "blacklist_uuid", "8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01"});
  ASSERT_TRUE(policy.unblock_uuid("8bd5b2b2-3c8a-4a39-9a5e-1a4f1f2b7c01"));
  EXPECT_EQ(redis.cli({"SCARD", "blacklist_uuid"}), "0\n");
  ASSERT_TRUE(policy.block_ips_of_uuid(kUuid));
  EXPECT_EQ(policy.uuids_with_blocked_ips(), std::vector<std::string>{kUuid});
  ASSERT_TRUE(policy.unblock_ips_of_uuid(kUuid));
}

TEST_F(Fixture, KicksLimitsTypesAndTags) {
  ASSERT_TRUE(policy.kick_sensor(kDashed, std::chrono::seconds(30)));
  EXPECT_EQ(redis.cli({"EXISTS", std::string("temp_blacklist_uuid:") + kUuid}, 1), "1\n");
  auto ttl = std::stoi(redis.cli({"TTL", std::string("temp_blacklist_uuid:") + kUuid}, 1));
  EXPECT_GT(ttl, 25);
  EXPECT_LE(ttl, 30);
  EXPECT_NE(redis.cli({"ZSCORE", "server:kicks", std::string("uuid:") + kUuid}, 1), "\n");
  ASSERT_TRUE(policy.kick_type(8));
  EXPECT_NE(redis.cli({"ZSCORE", "server:kicks", "type:8"}, 1), "\n");

  EXPECT_FALSE(policy.set_backlog_limit(kUuid, 0)) << "0 made the reference refuse every packet";
  ASSERT_TRUE(policy.set_backlog_limit(kUuid, 500));
  EXPECT_EQ(redis.cli({"HGET", "stream_max_size_by_uuid", kUuid}), "500\n");
  ASSERT_TRUE(policy.set_rate_limit(kUuid, 1000000));

  ASSERT_TRUE(policy.add_accepted_type(3));
  EXPECT_FALSE(policy.add_accepted_type(0));
  EXPECT_FALSE(policy.add_accepted_type(255));
  ASSERT_TRUE(policy.add_accepted_extended_type("maltrail"));
  EXPECT_FALSE(policy.add_accepted_extended_type("../etc"));
  EXPECT_EQ(policy.accepted_types(), std::vector<int>{3});
  ASSERT_TRUE(policy.remove_accepted_type(3));

  ASSERT_TRUE(policy.add_tag(kUuid, "dmz"));
  ASSERT_TRUE(policy.set_description(kUuid, "edge router"));
  auto info = policy.info(kDashed);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->uuid, kUuid);
  EXPECT_EQ(info->tags, std::vector<std::string>{"dmz"});
  EXPECT_EQ(info->description, "edge router");
  EXPECT_EQ(info->backlog_limit, 500);
  EXPECT_EQ(info->rate_limit, 1000000);
  EXPECT_TRUE(info->temp_blocked);
  EXPECT_FALSE(info->registered);
}

TEST_F(Fixture, RejectsAndErrorsReadBack) {
  std::string u = kUuid;
  redis.cli({"HINCRBY", "sensor:rejects:" + u, "hmac_mismatch", "3"});
  redis.cli({"LPUSH", "sensor:errors:" + u,
             format_sensor_error(1700000000, "duplicate", "type 1 already connected", "192.0.2.1", "server",
                                 "s-1")});
  redis.cli({"LPUSH", "sensor:errors:" + u, "not json"});
  auto rej = policy.rejects(u);
  EXPECT_EQ(rej["hmac_mismatch"], 3);
  auto errs = policy.errors(u, 10);
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].reason, "unknown");
  EXPECT_EQ(errs[1].reason, "duplicate");
  EXPECT_EQ(errs[1].ip, "192.0.2.1");
  EXPECT_EQ(errs[1].time, 1700000000);
  EXPECT_EQ(errs[1].session, "s-1");
  // Sensor-supplied text cannot break the JSON.
  auto tricky =
      parse_sensor_error(format_sensor_error(1, "r", "quote \" backslash \\ \xff", "", "server", ""));
  EXPECT_EQ(tricky.reason, "r");
  ASSERT_TRUE(policy.clear_errors(u));
  EXPECT_TRUE(policy.rejects(u).empty());
}

TEST_F(Fixture, EverySensorWithMetadataIsInTheSensorIndex) {
  const std::string other = "0f6c2a4e5d3b4c2a9e1f2b3c4d5e6f70";
  const std::string third = "1f6c2a4e5d3b4c2a9e1f2b3c4d5e6f70";
  ASSERT_TRUE(policy.register_sensor(kDashed, "key"));
  ASSERT_TRUE(policy.set_key(other, "key"));
  ASSERT_TRUE(policy.set_description(third, "rack 4"));
  EXPECT_EQ(redis.cli({"SMEMBERS", std::string(keys::kSensorIndex)}).size(), 3 * 33u);
  for (const auto& u : {std::string(kUuid), other, third})
    EXPECT_EQ(redis.cli({"SISMEMBER", std::string(keys::kSensorIndex), u}), "1\n") << u;
}

TEST_F(Fixture, RejectRecordsOfAnAddressAreThoseOfItsSourceNetwork) {
  redis.cli({"HINCRBY", "ip:rejects:192.0.2.0/24", "hmac_mismatch", "4"});
  redis.cli(
      {"LPUSH", "ip:errors:2001:db8:1:2::/64", format_sensor_error(1, "oversize", "", "", "server", "")});
  redis.cli({"ZADD", std::string(keys::kRejectSources), "4", "192.0.2.0/24", "1", "2001:db8:1:2::/64"});
  EXPECT_EQ(policy.ip_rejects("192.0.2.77")["hmac_mismatch"], 4);
  EXPECT_EQ(policy.ip_rejects("192.0.2.0/24")["hmac_mismatch"], 4);
  EXPECT_EQ(policy.ip_errors("2001:db8:1:2:ffff::1", 5).size(), 1u);
  auto top = policy.reject_sources(10);
  EXPECT_EQ(top["192.0.2.0/24"], 4);
  EXPECT_EQ(top["2001:db8:1:2::/64"], 1);
}
