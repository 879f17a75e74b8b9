// /api/v1: reference endpoints (docs/api/openapi.json).
#include "core/organisations.hpp"
#include "web/api/helpers.hpp"
#include "web/models/sensors.hpp"

namespace d4::web::api {

void reference(WebApp& app, Routes& r) {
  r.api("POST", "/api/v1/add/sensor/register", Role::SensorRegister,
        [&app](http::Request& req, const Identity& id) {
          Input in(req);
          if (!in.has("uuid") || !in.has("hmac_key"))
            throw ApiError(400, "Mandatory parameter(s) not provided");
          auto& d = app.db();
          // Budgets: what an account that may only register sensors can make the server store.
          auto refuse = [&app](int status, const std::string& why) {
            ++app.counters().registrations_refused;
            return ApiError(status, why);
          };
          auto description = in.str("description"), mail = in.str("mail");
          if (description.size() > app.config().max_description_length)
            throw refuse(400, "the description is longer than " +
                                  std::to_string(app.config().max_description_length) + " characters");
          if (mail.size() > 300) throw refuse(400, "the mail address is longer than 300 characters");
          long long pending = models::Sensors(d).pending_count();
          if (pending >= app.config().max_pending_registrations)
            throw refuse(429, "too many pending registrations (" + std::to_string(pending) +
                                  "); an admin must approve or reject some first");
          auto res = d.policy.register_sensor(in.str("uuid"), in.str("hmac_key"), mail, description,
                                              in.flag("third_party"));
          result_or_throw(res);
          // The sensor belongs to the registrant's organisation (docs/web.md#organisations).
          core::OrganisationStore orgs(d.meta);
          if (auto org = orgs.user_org(id.user); !org.empty() && org != orgs.default_id().value_or(""))
            orgs.assign_sensor(res.value, org);
          return json{{"uuid", res.value}};
        });
  r.api("GET", "/api/v1/sensors/monitoring/errors", Role::User, [&app](http::Request&, const Identity& id) {
    return json(models::Sensors(app.db()).silent(Scope::of(app.db(), id)));
  });
}

}  // namespace d4::web::api
