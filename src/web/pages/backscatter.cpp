// /backscatter — Backscatter victims of d4-pibs ranked by packets in a window.
#include "web/models/backscatter.hpp"
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

namespace {

using models::BackscatterStats;
using models::VictimList;
using models::VictimQuery;

Html cards(const BackscatterStats& s) {
  Html h = "<section class=\"cards\">"_h;
  h << stat_card(std::to_string(s.victims), "victims (all time)")
    << stat_card(std::to_string(s.victims_last_hour), "victims seen in the last hour")
    << stat_card(std::to_string(s.counters.backscatter), "backscatter packets")
    << stat_card(std::to_string(s.counters.frames), "frames analysed")
    << stat_card(std::to_string(s.counters.syn_evicted), "SYN senders evicted (memory cap)")
    << stat_card(html::format_time(s.latest), "newest backscatter", true);
  return h << "</section>"_h;
}

Html search_form(const VictimQuery& q) {
  Html h =
      "<form class=\"search\" method=\"get\" action=\"/backscatter\" role=\"search\">"
      "<label for=\"q\">Victim</label><input id=\"q\" name=\"q\" type=\"search\" maxlength=\"64\""_h;
  h << html::attribute("value", q.filter)
    << " placeholder=\"address, CIDR network or part of an address\">"
       "<label for=\"window\">Ranked by packets in</label><select id=\"window\" name=\"window\">"_h;
  for (auto [secs, label] : {std::pair<long long, const char*>{3600, "the last hour"},
                             {6 * 3600, "the last 6 hours"},
                             {24 * 3600, "the last 24 hours"},
                             {7 * 24 * 3600, "the last 7 days"},
                             {0, "all time"}})
    h << "<option value=\""_h << secs << "\""_h << html::when(q.window == secs, " selected"_h) << ">"_h
      << label << "</option>"_h;
  h << "</select><label for=\"until\">Window ends</label><select id=\"until\" name=\"until\">"
       "<option value=\"\">now</option><option value=\"latest\""_h
    << html::when(q.until_latest, " selected"_h) << ">at the newest backscatter</option>"_h;
  if (q.until)
    h << "<option value=\""_h << *q.until << "\" selected>"_h << html::format_time(*q.until) << "</option>"_h;
  return h << "</select><button class=\"btn\" type=\"submit\">Show</button></form>"_h;
}

Html no_results(const BackscatterStats& s) {
  return "<section class=\"card empty\"><h2>No backscatter results yet</h2><p>d4-pibs writes them when "
         "run with <code>--redis</code> (or <code>redis_output = true</code>); this page reads <code>"_h
         << s.redis << "</code> with the key prefix <code>"_h << s.key_prefix << "</code>.</p></section>"_h;
}

Html summary(const VictimQuery& q, const VictimList& l) {
  Html h = "<p>"_h;
  h << l.total;
  if (q.window > 0)
    h << " victims with backscatter between "_h << html::format_time(*l.until - q.window) << " and "_h
      << html::format_time(*l.until) << "."_h;
  else
    h << " victims."_h;
  if (l.truncated)
    h << " Only the most recently seen victims were examined; narrow the filter or the window."_h;
  return h << "</p>"_h;
}

Html no_match(const VictimQuery& q, const VictimList& l) {
  Html h = "<p class=\"card empty\">No victim matches."_h;
  if (q.window > 0 && !q.until_latest && l.latest)
    h << " The newest backscatter was seen "_h << html::format_time(*l.latest) << ": "_h
      << html::link("/backscatter?window=" + std::to_string(q.window) +
                        "&until=latest&q=" + http::url_encode(q.filter),
                    "show the window ending then")
      << "."_h;
  return h << "</p>"_h;
}

Html victims_table(const VictimQuery& q, const VictimList& l) {
  Html h = "<div class=\"scroll\"><table class=\"victims\">"_h;
  h << table_head({"#", "Victim", q.window > 0 ? "Packets in window" : "Packets", "Packets (all time)",
                   "Most answered service", "Source ports", "First seen", "Last seen"})
    << "<tbody>"_h;
  long long rank = q.offset;
  for (const auto& v : l.items) {
    h << "<tr><td class=\"num\">"_h << ++rank << "</td><td>"_h << victim_link(v.victim)
      << "</td><td class=\"num\">"_h << v.packets << "</td><td class=\"num\">"_h
      << number_or_empty(v.packets_total) << "</td><td>"_h;
    if (v.top_port) {
      h << v.top_port->port;
      if (v.top_port->service) h << " ("_h << *v.top_port->service << ")"_h;
    }
    h << "</td><td class=\"num\">"_h << v.distinct_ports << "</td><td>"_h << html::format_time(v.first_seen)
      << "</td><td>"_h << html::format_time(v.last_seen) << "</td></tr>"_h;
  }
  return h << "</tbody></table></div>"_h;
}

}  // namespace

void backscatter(WebApp& app, Routes& r) {
  r.page("/backscatter", Role::User, [&app](http::Request& req, const Identity& id) {
    Scope::of(app.db(), id).require_unrestricted();  // server-wide results (api/backscatter.cpp)
    Input in(req);
    VictimQuery q = models::parse_victim_query(in);
    q.limit = 50;
    long long pg = in.integer("page").value_or(1);
    if (pg < 1 || pg > 100000) throw ApiError(400, "page must be 1..100000");
    q.offset = (pg - 1) * q.limit;
    models::Backscatter model(app.db(), app.config());
    auto stats = model.stats();
    auto list = model.victims(q);
    const auto options = opts(req, "Backscatter", "backscatter");
    Html b = cards(stats) + search_form(q);
    if (stats.victims == 0) return html::layout(options, &id, b << no_results(stats));
    b << summary(q, list);
    if (list.items.empty()) return html::layout(options, &id, b << no_match(q, list));
    std::string until_text = q.until_latest ? "latest" : q.until ? std::to_string(*q.until) : "";
    b << victims_table(q, list)
      << html::pager("/backscatter?window=" + std::to_string(q.window) +
                         "&until=" + http::url_encode(until_text) + "&q=" + http::url_encode(q.filter),
                     pg, q.limit, list.total);
    return html::layout(options, &id, b);
  });
}

}  // namespace d4::web::pages
