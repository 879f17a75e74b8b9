#pragma once
// Self-service sensor registrations (/registrations, /api/v1/registrations...): an organisation's
// user registers a sensor (UUID, HMAC key, description); an administrator, or with
// [web] sensor_registration = "org-approval" also one of the organisation's administrators,
// approves it. Until then the registration lives in d4:registrations only: d4-server knows
// neither the sensor nor its key, so it refuses the sensor in registration mode and, in
// shared-secret mode, accepts it with the shared key only, as any sensor (docs/web.md).
#include <string>
#include <vector>

#include "web/auth/scope.hpp"
#include "web/counters.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"
#include "web/web_config.hpp"

namespace d4::web::models {

struct RegistrationView {
  std::string uuid, org, description, by;
  long long created = 0;
  bool may_approve = false;  // for the viewer
};
D4_VIEW_TO_JSON(RegistrationView, uuid, org, description, by, created, may_approve)

struct RegistrationList {
  std::string mode;  // [web] sensor_registration
  std::vector<RegistrationView> items;
};
D4_VIEW_TO_JSON(RegistrationList, mode, items)

class Registrations {
 public:
  // `counters` (optional) counts the refusals of the pending-registration budgets.
  Registrations(Db& db, const WebConfig& cfg, WebCounters* counters = nullptr)
      : db_(db), cfg_(cfg), counters_(counters) {}

  // The registrations of the viewer's organisation (all of them for an administrator).
  RegistrationList list(const Identity& viewer);
  // A new pending registration by `viewer` for its organisation. ApiError: 403 when the mode is
  // "off", 400 for an invalid UUID, key or description, 409 when the sensor is known or already
  // pending, 429 beyond max_pending_registrations in all or max_pending_registrations_per_organisation
  // for the viewer's organisation (checked and stored atomically, counted).
  RegistrationView request(const Identity& viewer, const std::string& uuid, const std::string& key,
                           const std::string& description);
  // Registers, approves and assigns the sensor (ApiError 404 for a registration the viewer may not
  // see, 403 when it may see but not approve it).
  std::string approve(const Identity& viewer, const std::string& uuid);
  // Withdraws or rejects it: its requester, or who may approve it.
  void reject(const Identity& viewer, const std::string& uuid);

 private:
  struct Stored {
    RegistrationView view;
    std::string key;
  };
  Stored require(const Identity& viewer, const std::string& uuid);
  bool may_approve(const Identity& viewer, const std::string& org);
  void store_within_budgets(const std::string& uuid, const std::string& org, const std::string& stored);

  Db& db_;
  const WebConfig& cfg_;
  WebCounters* counters_;
};

}  // namespace d4::web::models
