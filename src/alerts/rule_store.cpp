#include "alerts/rule_store.hpp"

#include <openssl/rand.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/keys.hpp"

namespace d4::alerts {

namespace keys = core::keys;

namespace {

std::string new_rule_id() {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string id;
  for (unsigned char c : b) id += fmt::format("{:02x}", c);
  return id;
}

bool valid_id(const std::string& id) {
  return id.size() == 16 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Rule parse_stored(const std::string& id, const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw RuleError("not valid JSON");
  Rule r = Rule::from_json(j);
  r.id = id;
  return r;
}

}  // namespace

Rule RuleStore::add(Rule rule) {
  rule.validate();
  // HSETNX of a fresh id after the count check: two concurrent adds may pass one over the bound,
  // which the bound tolerates (it protects the daemon, not an exact figure).
  auto count = meta_.command_ok({"HLEN", keys::kAlertRules}).integer;
  if (count >= static_cast<long long>(max_rules_))
    throw RuleBudgetError(
        fmt::format("there are already {} alert rules (the limit, [alerts] max_rules)", count));
  for (int attempt = 0; attempt < 4; ++attempt) {
    rule.id = new_rule_id();
    auto r = meta_.command_ok({"HSETNX", keys::kAlertRules, rule.id, rule.to_json().dump()});
    if (r.integer == 1) return rule;
  }
  throw RuleError("could not allocate a rule id");
}

RuleLoad RuleStore::load() {
  RuleLoad out;
  auto v = meta_.command_ok({"HGETALL", keys::kAlertRules}).as_strings();
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) {
    try {
      out.rules.push_back(parse_stored(v[i], v[i + 1]));
    } catch (const RuleError& e) {
      out.invalid.push_back(v[i] + ": " + e.what());
    }
  }
  std::sort(out.rules.begin(), out.rules.end(), [](const Rule& a, const Rule& b) { return a.id < b.id; });
  return out;
}

std::optional<Rule> RuleStore::get(const std::string& id) {
  if (!valid_id(id)) return std::nullopt;
  auto r = meta_.command_ok({"HGET", keys::kAlertRules, id});
  if (r.is_nil()) return std::nullopt;
  return parse_stored(id, r.str);
}

bool RuleStore::replace(const Rule& rule) {
  rule.validate();
  if (!valid_id(rule.id)) return false;
  // Written only if present, in one step: an edit racing a removal does not resurrect the rule.
  auto r = meta_.command_ok({"EVAL",
                             "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then "
                             "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end return 0",
                             "1", keys::kAlertRules, rule.id, rule.to_json().dump()});
  return r.integer == 1;
}

bool RuleStore::remove(const std::string& id) {
  if (!valid_id(id)) return false;
  // The rule's alert instances go with it; the daemon forgets them at its next evaluation (their
  // state records are removed there, after a resolved notification is sent for the firing ones).
  return meta_.command_ok({"HDEL", keys::kAlertRules, id}).integer == 1;
}

}  // namespace d4::alerts
