#pragma once
// Alert rules in the metadata Redis (d4:alerts:rules, rule id -> JSON), shared by the CLI, the web
// API and the daemon. The number of rules is bounded ([alerts] max_rules): rules come from
// operators, but through an API, and every rule costs the daemon work at each evaluation.
#include <optional>
#include <string>
#include <vector>

#include "alerts/rule.hpp"
#include "core/redis_client.hpp"

namespace d4::alerts {

// Refused because the store already holds max_rules rules.
class RuleBudgetError : public RuleError {
 public:
  using RuleError::RuleError;
};

struct RuleLoad {
  std::vector<Rule> rules;           // valid rules, sorted by id
  std::vector<std::string> invalid;  // "<id>: <reason>" of stored rules that do not parse
};

class RuleStore {
 public:
  RuleStore(core::RedisClient& meta, std::size_t max_rules) : meta_(meta), max_rules_(max_rules) {}

  // Validates, gives the rule a new id and stores it; returns the stored rule. Throws RuleError
  // when invalid, RuleBudgetError when the store already holds max_rules rules.
  Rule add(Rule rule);
  RuleLoad load();
  std::optional<Rule> get(const std::string& id);
  // Validates and replaces the rule `rule.id`, which must exist (false: no such rule; a rule
  // removed meanwhile is not brought back). Its alerts keep their state: the daemon judges them
  // by the new parameters at its next evaluation, and those it no longer watches resolve.
  bool replace(const Rule& rule);
  bool remove(const std::string& id);  // false: no such rule

 private:
  core::RedisClient& meta_;
  std::size_t max_rules_;
};

}  // namespace d4::alerts
