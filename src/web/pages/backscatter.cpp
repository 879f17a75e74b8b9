// /backscatter — Backscatter victims of d4-pibs ranked by packets in a window.
#include "web/pages/widgets.hpp"

namespace d4::web::pages {

void backscatter(WebApp& app, http::Router& r) {
  app.page(r, "/backscatter", Role::User, [&app](http::Request& req, const Identity& id) {
    Input in(req);
    VictimQuery q = parse_victim_query(in);
    q.limit = 50;
    long long pg = in.integer("page").value_or(1);
    if (pg < 1 || pg > 100000) throw ApiError(400, "page must be 1..100000");
    q.offset = (pg - 1) * q.limit;
    auto& d = app.db();
    auto stats = app.backscatter_stats(d);
    auto list = app.backscatter_victims(d, q);
    std::string until_text = q.until_latest ? "latest" : q.until ? std::to_string(*q.until) : "";

    std::string b = "<section class=\"cards\">";
    b += stat_card(n(stats["victims"]), "victims (all time)");
    b += stat_card(n(stats["victims_last_hour"]), "victims seen in the last hour");
    b += stat_card(n(stats["counters"]["backscatter"]), "backscatter packets");
    b += stat_card(n(stats["counters"]["frames"]), "frames analysed");
    b += stat_card(n(stats["counters"]["syn_evicted"]), "SYN senders evicted (memory cap)");
    b += stat_card(esc(stats["latest"].is_null() ? "never" : html::format_time(stats["latest"])),
                   "newest backscatter", true);
    b += "</section>";

    b += "<form class=\"search\" method=\"get\" action=\"/backscatter\" role=\"search\">"
         "<label for=\"q\">Victim</label><input id=\"q\" name=\"q\" type=\"search\" maxlength=\"64\" "
         "value=\"" +
         esc(q.filter) +
         "\" placeholder=\"address, CIDR network or part of an address\">"
         "<label for=\"window\">Ranked by packets in</label><select id=\"window\" name=\"window\">";
    for (auto [secs, label] : {std::pair<long long, const char*>{3600, "the last hour"},
                               {6 * 3600, "the last 6 hours"},
                               {24 * 3600, "the last 24 hours"},
                               {7 * 24 * 3600, "the last 7 days"},
                               {0, "all time"}})
      b += "<option value=\"" + std::to_string(secs) + "\"" + (q.window == secs ? " selected" : "") + ">" +
           label + "</option>";
    b += "</select><label for=\"until\">Window ends</label><select id=\"until\" name=\"until\">"
         "<option value=\"\">now</option><option value=\"latest\"" +
         std::string(q.until_latest ? " selected" : "") + ">at the newest backscatter</option>";
    if (q.until)
      b += "<option value=\"" + std::to_string(*q.until) + "\" selected>" + esc(html::format_time(*q.until)) +
           "</option>";
    b += "</select><button class=\"btn\" type=\"submit\">Show</button></form>";

    if (stats["victims"].get<long long>() == 0) {
      b += "<section class=\"card empty\"><h2>No backscatter results yet</h2><p>d4-pibs writes them when "
           "run with <code>--redis</code> (or <code>redis_output = true</code>); this page reads <code>" +
           esc(s(stats["source"]["redis"])) + "</code> with the key prefix <code>" +
           esc(s(stats["source"]["key_prefix"])) + "</code>.</p></section>";
      return html::layout(opts(req, "Backscatter", "backscatter"), &id, b);
    }
    const bool windowed = q.window > 0;
    b += "<p>" + n(list["total"]) +
         (windowed ? " victims with backscatter between " +
                         esc(html::format_time(list["until"].get<long long>() - q.window)) + " and " +
                         esc(html::format_time(list["until"])) + "."
                   : " victims.");
    if (list["truncated"].get<bool>())
      b += " Only the most recently seen victims were examined; narrow the filter or the window.";
    b += "</p>";
    if (list["items"].empty()) {
      b += "<p class=\"card empty\">No victim matches.";
      if (windowed && !q.until_latest && !list["latest"].is_null())
        b += " The newest backscatter was seen " + esc(html::format_time(list["latest"])) + ": <a href=\"" +
             esc("/backscatter?window=" + std::to_string(q.window) +
                 "&until=latest&q=" + http::url_encode(q.filter)) +
             "\">show the window ending then</a>.";
      b += "</p>";
      return html::layout(opts(req, "Backscatter", "backscatter"), &id, b);
    }
    b += "<div class=\"scroll\"><table class=\"victims\">" +
         table_head({"#", "Victim", windowed ? "Packets in window" : "Packets", "Packets (all time)",
                     "Most answered service", "Source ports", "First seen", "Last seen"}) +
         "<tbody>";
    long long rank = q.offset;
    for (const auto& v : list["items"]) {
      std::string service = "";
      if (!v["top_port"].is_null())
        service = n(v["top_port"]["port"]) +
                  (v["top_port"]["service"].is_null() ? "" : " (" + esc(s(v["top_port"]["service"])) + ")");
      b += "<tr><td class=\"num\">" + std::to_string(++rank) + "</td><td>" + victim_link(s(v["victim"])) +
           "</td><td class=\"num\">" + n(v["packets"]) + "</td><td class=\"num\">" + n(v["packets_total"]) +
           "</td><td>" + service + "</td><td class=\"num\">" + n(v["distinct_ports"]) + "</td><td>" +
           html::format_time(v["first_seen"]) + "</td><td>" + html::format_time(v["last_seen"]) +
           "</td></tr>";
    }
    b += "</tbody></table></div>" +
         html::pager("/backscatter?window=" + std::to_string(q.window) +
                         "&until=" + http::url_encode(until_text) + "&q=" + http::url_encode(q.filter),
                     pg, q.limit, list["total"].get<long long>());
    return html::layout(opts(req, "Backscatter", "backscatter"), &id, b);
  });
}

}  // namespace d4::web::pages
