// Read model of the analyzer queues.
#include "web/models/queues.hpp"

#include <algorithm>

#include "core/keys.hpp"
#include "core/organisations.hpp"
#include "protocol/types.hpp"

namespace d4::web::models {

namespace {
// The registry name of a D4 type ("yaf" for 7), empty for unassigned types.
std::string type_name(int type) {
  auto info = type > 0 && type <= 255 ? protocol::type_info(static_cast<std::uint8_t>(type)) : std::nullopt;
  return info ? std::string(info->name) : std::string();
}
}  // namespace

void to_json(json& j, const QueueView& v) {
  const auto& q = v.info;
  const auto& st = v.stats;
  j = {{"id", q.id},
       {"type", q.target.type},
       {"type_name", q.target.type == 254 ? q.target.extended_type : type_name(q.target.type)},
       {"extended_type", q.target.extended_type},
       {"target", q.target.list_part()},
       {"list_key", q.list_key()},
       {"description", q.description},
       {"max_size", json(q.max_size)},
       {"effective_max_size", v.effective_max_size},
       {"group", q.group},
       {"sensors", q.sensors},
       {"last_updated", q.last_updated},
       {"stats",
        {{"length", st.length},
         {"pushed", st.pushed},
         {"dropped", st.dropped},
         {"consumed", st.consumed},
         {"last_push", st.last_push},
         {"last_consumer_activity", st.last_consumer_activity}}},
       {"granted_by",
        v.granted_by.empty() ? json(nullptr) : json{{"uuid", v.granted_by}, {"name", v.granted_by_name}}}};
}

QueueView Queues::view(const queues::QueueInfo& q) {
  return {q, store_.effective_max_size(q), store_.stats(q.id), {}, {}};
}

QueueView Queues::view(const queues::QueueInfo& q, const Scope& scope) {
  QueueView v = view(q);
  if (scope.unrestricted() || !scope.granted(q.id)) return v;
  v.info.sensors.clear();
  if (meta_) {
    auto grant = meta_->command({"HGET", core::keys::kQueueGrants, q.id}).as_string();
    auto j = grant ? json::parse(*grant, nullptr, false) : json();
    if (j.is_object()) v.granted_by = j.value("from", "");
    if (auto o = core::OrganisationStore(*meta_).get(v.granted_by)) v.granted_by_name = o->name;
  }
  return v;
}

bool Queues::visible(const queues::QueueInfo& q, const Scope& scope) {
  if (scope.unrestricted() || scope.granted(q.id)) return true;
  return q.group && !q.sensors.empty() &&
         std::all_of(q.sensors.begin(), q.sensors.end(),
                     [&](const std::string& s) { return scope.covers(s); });
}

QueueList Queues::list(const Scope& scope) {
  QueueList l;
  for (const auto& q : store_.list())
    if (visible(q, scope)) l.items.push_back(view(q, scope));
  l.default_max_size = store_.default_max_size();
  return l;
}

std::optional<QueueView> Queues::find(const std::string& id, const Scope& scope) {
  auto q = store_.get(id);
  if (!q || !visible(*q, scope)) return std::nullopt;
  return view(*q, scope);
}

QueuePreview Queues::preview(const queues::QueueInfo& q, long long count, long long max_line_len) {
  long long n = std::clamp<long long>(count, 1, 100);
  long long max_len = std::clamp<long long>(max_line_len, 10, 100000);
  QueuePreview p{q.id, {}};
  for (auto& s : analyzer_.command({"LRANGE", q.list_key(), "0", std::to_string(n - 1)}).as_strings()) {
    bool cut = static_cast<long long>(s.size()) > max_len;
    if (cut) s.resize(static_cast<std::size_t>(max_len));
    p.newest_first.push_back({std::move(s), cut});
  }
  return p;
}

}  // namespace d4::web::models
