// The rule format and the alert state machine on their own: what a rule accepts, and how an
// instance fires, reminds, resolves after its delay and queues its notifications per channel.
#include <gtest/gtest.h>

#include "alerts/rule.hpp"
#include "alerts/state.hpp"

using namespace d4::alerts;

TEST(AlertRule, JsonRoundTripKeepsTheParametersOfItsKind) {
  Rule r;
  r.kind = Kind::SensorError;
  r.scope = Scope::parse("sensor:8BD5B2B2-3C8A-4A39-9A5E-1A4F1F2B7C01");
  r.window_seconds = 60;
  r.threshold = 5;
  r.reasons = {"hmac_mismatch"};
  r.renotify_seconds = 0;
  r.channels = {"ops"};
  auto back = Rule::from_json(r.to_json());
  EXPECT_EQ(back.scope.to_string(), "sensor:8bd5b2b23c8a4a399a5e1a4f1f2b7c01");
  EXPECT_EQ(back.window_seconds, 60);
  EXPECT_EQ(back.threshold, 5);
  EXPECT_EQ(back.reasons, r.reasons);
  EXPECT_EQ(back.renotify_seconds, 0);
  EXPECT_FALSE(back.resolve_seconds.has_value());
  EXPECT_EQ(back.channels, r.channels);
  EXPECT_FALSE(r.to_json().contains("fill_ratio")) << "only the kind's own parameters are stored";
}

TEST(AlertRule, StoredRulesWithUnknownFieldsOrWrongTypesAreRefused) {
  EXPECT_THROW(Rule::from_json({{"kind", "sensor_silent"}, {"intervall_seconds", 5}}), RuleError);
  EXPECT_THROW(Rule::from_json({{"kind", "sensor_silent"}, {"interval_seconds", "5"}}), RuleError);
  EXPECT_THROW(Rule::from_json({{"kind", "queue_full"}, {"scope", "org:nope"}}), RuleError);
  EXPECT_THROW(Rule::from_json({{"kind", "sensor_silent"}, {"target", "x"}}), RuleError);
  EXPECT_THROW(Rule::from_json({{"kind", "worker_down"}, {"name", std::string(201, 'n')}}), RuleError);
  EXPECT_NO_THROW(Rule::from_json({{"kind", "worker_down"}, {"target", "main"}}));
}

TEST(AlertState, FiresOnceRemindsResolvesAfterTheDelayAndFiresAgainLater) {
  InstanceState st;
  Timing t{/*resolve_after=*/10, /*renotify=*/100};
  EXPECT_FALSE(step(st, false, 0, t));
  EXPECT_EQ(step(st, true, 1, t), Event::Firing);
  st.last_notified = 1;
  EXPECT_FALSE(step(st, true, 50, t));
  EXPECT_EQ(step(st, true, 101, t), Event::Reminder);
  st.last_notified = 101;
  EXPECT_FALSE(step(st, false, 102, t)) << "clear, but not for long enough";
  EXPECT_FALSE(step(st, true, 105, t)) << "back: the clear time starts again";
  EXPECT_FALSE(step(st, false, 106, t));
  EXPECT_FALSE(step(st, false, 115, t));
  EXPECT_EQ(step(st, false, 116, t), Event::Resolved);
  EXPECT_FALSE(st.firing);
  EXPECT_EQ(st.since, 116);
  EXPECT_FALSE(step(st, false, 200, t));
  EXPECT_EQ(step(st, true, 201, t), Event::Firing);
}

TEST(AlertState, NotificationsArePendingPerChannelAndAResolvedCancelsAnUndeliveredFiring) {
  InstanceState st;
  st.channels = {"hook", "mail"};
  queue_notification(st, Event::Firing, 10);
  EXPECT_EQ(st.pending.size(), 2u);
  st.pending.erase("hook");  // delivered there
  queue_notification(st, Event::Resolved, 20);
  EXPECT_EQ(st.pending.size(), 1u);
  EXPECT_EQ(st.pending.at("hook"), Event::Resolved) << "hook was told it fired: it is told it resolved";
  EXPECT_EQ(st.pending.count("mail"), 0u) << "mail never learnt it fired";
  EXPECT_EQ(st.notifications, 2);
  EXPECT_EQ(st.next_attempt, 20);
}

TEST(AlertState, RetryDelayDoublesUpToItsMaximum) {
  EXPECT_EQ(retry_delay(0, 15, 600), 0);
  EXPECT_EQ(retry_delay(1, 15, 600), 15);
  EXPECT_EQ(retry_delay(3, 15, 600), 60);
  EXPECT_EQ(retry_delay(40, 15, 600), 600);
}

TEST(AlertState, StateSurvivesItsJsonForm) {
  InstanceState st;
  st.rule_id = "0123456789abcdef";
  st.instance = "queue:q";
  st.labels = {{"queue", "q"}, {"type", "8"}};
  st.firing = true;
  st.since = 12.5;
  st.pending = {{"hook", Event::Reminder}};
  auto back = InstanceState::from_json(st.to_json());
  EXPECT_EQ(back.key(), "0123456789abcdef|queue:q");
  EXPECT_EQ(back.labels, st.labels);
  EXPECT_TRUE(back.firing);
  EXPECT_EQ(back.since, 12.5);
  EXPECT_EQ(back.pending, st.pending);
}
