#pragma once
// Queue grants between organisations (/grants, /api/v1/grants..., docs/web.md#queue-grants): an
// organisation grants another an analyzer queue on its sensors' data.
//
// A grant is an ordinary group queue (queues::QueueStore) of the granting organisation's sensors,
// so d4-worker feeds it as any other and existing analyzers pop analyzer:<type>:<queue>, plus a
// record in d4:grants naming the organisation it is granted to. Scope::of reads those records:
// the grantee's users see and use that queue (models::Queues::visible), never the granting
// organisation's sensors. Revoking deletes the record and the queue (definition, list, counters):
// d4-worker stops feeding it at its next queue lookup (at most a second later). Every grant,
// revocation and sensor withdrawn is written to an audit trail (d4:grants:audit, bounded) that
// the server's administrators and both organisations' administrators read.
#include <optional>
#include <string>
#include <vector>

#include "core/organisations.hpp"
#include "queues/queue_store.hpp"
#include "web/auth/authenticator.hpp"
#include "web/db.hpp"
#include "web/models/common.hpp"
#include "web/web_config.hpp"

namespace d4::web::models {

struct OrgRef {
  std::string uuid, name;
};
D4_VIEW_TO_JSON(OrgRef, uuid, name)

struct GrantView {
  std::string id;  // the queue's id
  OrgRef from, to;
  std::string target;  // "3" or an extended type
  int type = 0;
  std::string description, by, list_key;
  long long created = 0;
  // The granting organisation's sensors feeding the queue: shown to its side and administrators
  // only (empty for the grantee).
  std::vector<std::string> sensors;
  bool may_revoke = false;  // for the viewer
};
D4_VIEW_TO_JSON(GrantView, id, from, to, target, type, description, by, list_key, created, sensors,
                may_revoke)

struct GrantList {
  std::vector<GrantView> items;
  bool may_grant = false;  // the viewer may grant queues (administrator or organisation administrator)
  std::string own_org;     // the viewer's organisation
};
D4_VIEW_TO_JSON(GrantList, items, may_grant, own_org)

struct GrantAuditEntry {
  long long time = 0;
  std::string action, by, grant, target;
  OrgRef from, to;
  std::vector<std::string> sensors;  // empty for a viewer on the grantee's side
};
D4_VIEW_TO_JSON(GrantAuditEntry, time, action, by, grant, target, from, to, sensors)

struct GrantAudit {
  std::vector<GrantAuditEntry> items;  // newest first
  long long kept = 0;                  // [web] grant_audit_max_entries
};
D4_VIEW_TO_JSON(GrantAudit, items, kept)

struct GrantRequest {
  std::string from;  // empty: the viewer's organisation
  std::string to;
  queues::QueueTarget target;
  std::vector<std::string> sensors;  // empty: every sensor assigned to `from`
  std::string description;
  std::optional<long long> max_size;
};

class Grants {
 public:
  Grants(Db& db, const WebConfig& cfg) : db_(db), cfg_(cfg), orgs_(db.meta) {}

  // The grants from or to the viewer's organisation (every grant for an administrator).
  GrantList list(const Identity& viewer);
  // ApiError 403 unless the viewer administers `from` (or the server), 404 for an unknown
  // organisation, 400 for a sensor `from` does not own, 409 beyond max_grants_per_organisation.
  GrantView grant(const Identity& viewer, GrantRequest request);
  // Deletes the grant and its queue. ApiError 404 for a grant the viewer does not see, 403 when
  // it may see but not revoke it (the grantee's side).
  void revoke(const Identity& viewer, const std::string& id);
  // The same when the queue itself is deleted through the queue API (an administrator): recorded
  // as a revocation. False when the queue is not a grant.
  bool forget_queue(const Identity& viewer, const std::string& queue_id);
  // A sensor that moves to another organisation stops feeding the queues its former one granted.
  void sensor_moved(const Identity& viewer, const std::string& sensor, const std::string& new_org);
  // The grants of an organisation being deleted (from or to it) are revoked.
  void organisation_removed(const Identity& viewer, const std::string& org);
  // Audit entries about the viewer's organisation (all for an administrator); ApiError 403 for a
  // viewer who administers neither the server nor its organisation.
  GrantAudit audit(const Identity& viewer);

  // The viewer administers the server, or `org` (d4:org:admins and a member of it).
  bool administers(const Identity& viewer, const std::string& org);

 private:
  struct Stored {
    std::string id, from, to, by;
    long long created = 0;
  };
  std::vector<Stored> stored();
  std::optional<Stored> stored(const std::string& id);
  OrgRef ref(const std::string& org);
  GrantView view(const Stored& g, const queues::QueueInfo* q, const Identity& viewer, const std::string& own);
  std::vector<std::string> sensors_for(const GrantRequest& r, const std::string& from);
  void record(const Identity& viewer, const std::string& action, const Stored& g, const queues::QueueInfo* q,
              const std::vector<std::string>& sensors);
  void remove(const Identity& viewer, const Stored& g, const std::string& action);

  Db& db_;
  const WebConfig& cfg_;
  core::OrganisationStore orgs_;
};

}  // namespace d4::web::models
