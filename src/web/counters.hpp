#pragma once
// Refusals of the web tier's budgets since start (shown in /api/v1/health and on the dashboard).
#include <atomic>
#include <cstdint>

namespace d4::web {

struct WebCounters {
  std::atomic<std::uint64_t> login_failures{0};         // wrong passwords (login, password change)
  std::atomic<std::uint64_t> login_delayed{0};          // attempts refused during a throttling delay
  std::atomic<std::uint64_t> password_checks_busy{0};   // refused: max_concurrent_password_checks reached
  std::atomic<std::uint64_t> registrations_refused{0};  // pending limit or over-long fields
  // Self-service registrations refused by the budgets of d4:registrations (also counted above).
  std::atomic<std::uint64_t> registrations_refused_total_budget{0};  // max_pending_registrations
  std::atomic<std::uint64_t> registrations_refused_org_budget{0};    // ..._per_organisation
  std::atomic<std::uint64_t> tokens_refused{0};                      // max_tokens_per_user reached
  std::atomic<std::uint64_t> blocks_refused{0};  // every address, or too wide for the role
  std::atomic<std::uint64_t> redis_errors{0};    // requests answered 503: a Redis call failed
};

}  // namespace d4::web
