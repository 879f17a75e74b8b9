#pragma once
// What a signed-in user may see and manage (docs/web.md#organisations): every sensor, or the
// sensors of the user's organisation.
//
// Server administrators see everything. Any other user sees the sensors of its organisation
// (assigned explicitly, or the default one) and what derives from them: statistics, errors,
// queues of those sensors, alerts about them. While no sensor belongs to an organisation other
// than the default one (a single-team server), a user of the default organisation sees the whole
// server, exactly as before organisations existed.
//
// A sensor outside the scope answers exactly like one the server does not know (404), so that a
// UUID tells nothing about another organisation's sensors; the route wrappers check every route
// with a {uuid} (routing/routes.cpp), the read models filter lists and sums.
#include <set>
#include <string>
#include <vector>

#include "core/organisations.hpp"
#include "web/auth/authenticator.hpp"
#include "web/db.hpp"

namespace d4::web {

class Scope {
 public:
  // The scope of `id`: everything for an administrator, else its organisation.
  static Scope of(Db& d, const Identity& id);
  static Scope everything() { return Scope(); }

  // Sees the whole server: totals and server-wide data may be shown as they are.
  bool unrestricted() const { return all_; }
  // The viewer's organisation (empty for an administrator of a server without organisations).
  const std::string& org() const { return org_; }
  bool covers(const std::string& sensor) const { return all_ || ownership_.owner(sensor) == org_; }
  bool covers_org(const std::string& org) const { return all_ || org == org_; }
  // The members of `sensors` that the scope covers, in order.
  std::vector<std::string> covered(std::vector<std::string> sensors) const;
  const core::SensorOwnership& ownership() const { return ownership_; }
  // An analyzer queue another organisation granted the viewer's (docs/web.md#queue-grants): the
  // viewer sees and uses the queue, never the granting organisation's sensors.
  bool granted(const std::string& queue) const { return granted_.count(queue) == 1; }

  // ApiError 404 "404 Not Found" unless the sensor (dashless) is in the scope; a restricted scope
  // also refuses a sensor the server does not know, so that an unknown UUID and another
  // organisation's answer alike.
  void require_sensor(Db& d, const std::string& sensor) const;
  // ApiError 403 "Access Forbidden" unless unrestricted: server-wide data and actions that touch
  // every organisation (IP blocklist changes, queues of every sensor, backscatter results).
  void require_unrestricted() const;

 private:
  bool all_ = true;
  std::string org_;
  core::SensorOwnership ownership_;
  std::set<std::string> granted_;  // queue ids granted to org_ (restricted scopes only)
};

}  // namespace d4::web
