#pragma once
// Organisations' own notification channels (docs/alerts.md#organisations-channels): the webhooks
// and e-mail recipients an organisation's administrators set in d4-web, stored in
// d4:org:channels:<org> (name -> JSON). A rule of scope org:<uuid> notifies through its
// organisation's channels only, never through the server's [alerts.webhook.*] / [alerts.email.*]:
// an organisation's alerts reach that organisation, and the server's operators are not paged for
// it. E-mail channels name recipients only; the server's relay ([alerts.org_email]) sends them.
//
// Shared by d4-web (validates what it stores) and d4-alerts (builds the channels), so that what the
// interface accepts is what the daemon sends.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>
#include <nlohmann/json.hpp>

namespace d4::alerts {

struct OrgChannelSpec {
  std::string type;                  // "webhook" or "email"
  std::string url;                   // webhook: http(s)://...
  std::vector<std::string> headers;  // webhook: "Name: value" (e.g. an Authorization header)
  std::vector<std::string> to;       // email: recipients
};

// The settings both sides read from [alerts].
struct OrgChannelPolicy {
  bool allow_http = false;   // org_webhook_allow_http: plain http:// webhooks (else https:// only)
  bool email_relay = false;  // [alerts.org_email] is configured: e-mail channels can be sent
  std::size_t max_per_organisation = 10;  // max_org_channels
};
OrgChannelPolicy read_org_channel_policy(const toml::table& root);

// A channel name: 1-64 letters, digits, '-' or '_' (like the server's channels).
bool valid_org_channel_name(std::string_view name);
// Parses and checks a channel against the policy; throws std::invalid_argument with the reason.
OrgChannelSpec parse_org_channel(const nlohmann::json& j, const OrgChannelPolicy& policy);
nlohmann::json to_json(const OrgChannelSpec& spec);
// What d4-web shows of a channel to the organisation's members who do not administer it: the type
// and the host, without the path, query or headers (they often carry secrets).
std::string org_channel_summary(const OrgChannelSpec& spec);

// The name of an organisation's channel among all channels of d4-alerts: "org:<uuid>/<name>".
std::string org_channel_full_name(std::string_view org, std::string_view name);

}  // namespace d4::alerts
