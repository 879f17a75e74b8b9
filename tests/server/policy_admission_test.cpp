// The policy checks of a sensor connection, asked at its first header and at each policy refresh:
// one function, so the two moments agree on everything but what only one of them decides.
#include <gtest/gtest.h>

#include "server/policy_admission.hpp"

using namespace d4;
using namespace d4::server;

namespace {

const std::string kUuid = "6b5e3b2b8c6a4e4f9f1f2a3b4c5d6e7f";
const std::string kSession = "0a0b0c0d-0000-4000-8000-000000000001";

struct Peer {
  core::IpAddress address = *core::IpAddress::parse("192.0.2.7");
  std::string ip = "192.0.2.7";
  std::string uuid = kUuid;
  std::string extended;
};

SensorClaim claim(const Peer& p, bool header_seen, bool identified, std::uint8_t type = 1) {
  return SensorClaim{p.address, p.ip,        kSession,
                     1000,      header_seen, identified,
                     p.uuid,    type,        p.extended.empty() ? nullptr : &p.extended};
}

Policy shared_secret_policy() {
  Policy p;
  p.mode = core::ServerMode::SharedSecret;
  p.accepted_types.set(1).set(2).set(254);
  return p;
}

Reject reason(const AdmissionVerdict& v) {
  return v.refusal ? v.refusal->reason : Reject::kCount;
}

}  // namespace

TEST(PolicyAdmission, AnAdmittedSensorIsAdmittedAtBothMoments) {
  Policy p = shared_secret_policy();
  Peer peer;
  for (auto when : {AdmissionMoment::FirstHeader, AdmissionMoment::PolicyRefresh}) {
    auto v = check_admission(p, claim(peer, true, when == AdmissionMoment::PolicyRefresh), when);
    EXPECT_FALSE(v.refusal) << v.refusal->detail;
    EXPECT_FALSE(v.block_peer_by_uuid);
  }
}

TEST(PolicyAdmission, ABlockedAddressIsRefusedAtRefreshEvenBeforeAHeader) {
  Policy p = shared_secret_policy();
  p.blocked_ips.add("192.0.2.0/24");
  Peer peer;
  auto v = check_admission(p, claim(peer, false, false), AdmissionMoment::PolicyRefresh);
  EXPECT_EQ(reason(v), Reject::blocked_ip);
  EXPECT_NE(v.refusal->detail.find("192.0.2.0/24"), std::string::npos) << v.refusal->detail;
}

TEST(PolicyAdmission, BlacklistIpByUuidAsksToBlockThePeerAndStillAppliesTheOtherChecks) {
  Policy p = shared_secret_policy();
  p.ip_blocked_uuids.insert(kUuid);
  p.blocked_uuids.insert(kUuid);
  Peer peer;
  for (auto when : {AdmissionMoment::FirstHeader, AdmissionMoment::PolicyRefresh}) {
    auto v = check_admission(p, claim(peer, true, false), when);
    EXPECT_TRUE(v.block_peer_by_uuid);
    EXPECT_EQ(reason(v), Reject::blocked_uuid);
  }
  auto before_header = check_admission(p, claim(peer, false, false), AdmissionMoment::PolicyRefresh);
  EXPECT_FALSE(before_header.block_peer_by_uuid) << "no UUID claimed yet";
}

TEST(PolicyAdmission, RegistrationModeRefusesAnUnregisteredSensorWithTheMomentInItsDetail) {
  Policy p = shared_secret_policy();
  p.mode = core::ServerMode::Registration;
  Peer peer;
  auto first = check_admission(p, claim(peer, true, false), AdmissionMoment::FirstHeader);
  auto later = check_admission(p, claim(peer, true, true), AdmissionMoment::PolicyRefresh);
  EXPECT_EQ(reason(first), Reject::unregistered);
  EXPECT_NE(first.refusal->detail.find("is not registered (registration mode)"), std::string::npos);
  EXPECT_EQ(reason(later), Reject::unregistered);
  EXPECT_NE(later.refusal->detail.find("is no longer registered"), std::string::npos);
  p.registered.insert(kUuid);
  EXPECT_FALSE(check_admission(p, claim(peer, true, true), AdmissionMoment::PolicyRefresh).refusal);
}

TEST(PolicyAdmission, Type254FirstIsRefusedOnlyAtTheFirstHeader) {
  Policy p = shared_secret_policy();
  Peer peer;
  peer.extended = "ja3-jl";
  p.accepted_extended_types.insert("ja3-jl");
  EXPECT_EQ(reason(check_admission(p, claim(peer, true, false, 254), AdmissionMoment::FirstHeader)),
            Reject::first_type_254);
  EXPECT_FALSE(check_admission(p, claim(peer, true, true, 254), AdmissionMoment::PolicyRefresh).refusal)
      << "a session that switched from type 2";
}

TEST(PolicyAdmission, KicksCloseOnlySessionsStartedBeforeThem) {
  Policy p = shared_secret_policy();
  Peer peer;
  p.uuid_kicks[kUuid] = 999;  // before the session started (1000)
  EXPECT_FALSE(check_admission(p, claim(peer, true, true), AdmissionMoment::PolicyRefresh).refusal);
  p.uuid_kicks[kUuid] = 1000;
  EXPECT_EQ(reason(check_admission(p, claim(peer, true, true), AdmissionMoment::PolicyRefresh)),
            Reject::kicked);
  p.uuid_kicks.clear();
  p.type_kicks[1] = 2000;
  auto v = check_admission(p, claim(peer, true, true), AdmissionMoment::PolicyRefresh);
  EXPECT_EQ(reason(v), Reject::kicked);
  EXPECT_NE(v.refusal->detail.find("type 1"), std::string::npos) << v.refusal->detail;
}

TEST(PolicyAdmission, WhatAStoringSessionSendsMustStillBeAccepted) {
  Policy p = shared_secret_policy();
  Peer peer;
  p.accepted_types.reset(1);
  EXPECT_FALSE(check_admission(p, claim(peer, true, false), AdmissionMoment::PolicyRefresh).refusal)
      << "not storing yet: the framer refuses the type with its next header";
  EXPECT_EQ(reason(check_admission(p, claim(peer, true, true), AdmissionMoment::PolicyRefresh)),
            Reject::type_not_accepted);
  p.accepted_types.set(1);
  peer.extended = "bad\"name";
  auto v = check_admission(p, claim(peer, true, true, 254), AdmissionMoment::PolicyRefresh);
  EXPECT_EQ(reason(v), Reject::extended_type_not_accepted);
  EXPECT_NE(v.refusal->detail.find("bad\\\"name"), std::string::npos) << "escaped: " << v.refusal->detail;
  peer.extended.clear();
  p.incorrect_sessions.insert(kSession);
  EXPECT_EQ(reason(check_admission(p, claim(peer, true, true), AdmissionMoment::PolicyRefresh)),
            Reject::incorrect_type);
}
