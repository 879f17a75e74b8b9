#include "sharing/misp_feed/event.hpp"

#include <algorithm>
#include <ctime>

#include "core/utc_time.hpp"

namespace d4::sharing::misp {
namespace {

using ojson = nlohmann::ordered_json;

// MISP's feeds give integers as strings.
std::string num(std::int64_t v) {
  return std::to_string(v);
}

std::string attribute_signature(const MispAttribute& a) {
  std::string s;
  for (const std::string* f : {&a.object_relation, &a.type, &a.category, &a.value, &a.comment}) {
    s += *f;
    s += '\x1f';
  }
  s += a.to_ids ? '1' : '0';
  s += a.disable_correlation ? '1' : '0';
  return s;
}

std::string object_signature(const std::vector<std::string>& attribute_uuids) {
  std::string s;
  for (const auto& u : attribute_uuids) s += u + ",";
  return s;
}

std::vector<std::string> uuids_of(const std::vector<MispAttribute>& attributes) {
  std::vector<std::string> out;
  for (const auto& a : attributes) out.push_back(a.uuid);
  return out;
}

// The event-level fields that MISP shows and the object uuids: when they change, the event changed
// even if no attribute did (e.g. a period ending turns analysis from ongoing to completed).
std::string header_signature(const ojson& event) {
  ojson h = ojson::object();
  for (const char* k :
       {"info", "date", "published", "analysis", "threat_level_id", "distribution", "Orgc", "Tag"})
    if (event.contains(k)) h[k] = event[k];
  ojson objects = ojson::array();
  if (event.contains("Object"))
    for (const auto& o : event["Object"]) objects.push_back(o.value("uuid", ""));
  h["Object"] = objects;
  ojson attributes = ojson::array();
  if (event.contains("Attribute"))
    for (const auto& a : event["Attribute"]) attributes.push_back(a.value("uuid", ""));
  h["Attribute"] = attributes;
  return h.dump();
}

ojson attribute_json(const MispAttribute& a) {
  ojson j;
  j["uuid"] = a.uuid;
  if (!a.object_relation.empty()) j["object_relation"] = a.object_relation;
  j["type"] = a.type;
  j["category"] = a.category;
  j["value"] = a.value;
  j["to_ids"] = a.to_ids;
  j["disable_correlation"] = a.disable_correlation;
  j["comment"] = a.comment;
  j["timestamp"] = num(a.timestamp);
  j["distribution"] = "5";  // inherit the event's
  return j;
}

ojson object_json(const MispObject& o) {
  ojson j;
  j["uuid"] = o.uuid;
  j["name"] = o.name;
  j["meta-category"] = o.meta_category;
  j["description"] = o.description;
  j["template_uuid"] = o.template_uuid;
  j["template_version"] = num(o.template_version);
  j["timestamp"] = num(o.timestamp);
  j["comment"] = o.comment;
  j["distribution"] = "5";
  ojson attributes = ojson::array();
  for (const auto& a : o.attributes) attributes.push_back(attribute_json(a));
  j["Attribute"] = std::move(attributes);
  return j;
}

std::string tag_colour(std::string_view tag) {
  if (tag == "tlp:white" || tag == "tlp:clear") return "#ffffff";
  if (tag == "tlp:green") return "#33ff00";
  if (tag == "tlp:amber" || tag == "tlp:amber+strict") return "#ffc000";
  if (tag == "tlp:red") return "#cc0033";
  return "#0088cc";
}

std::int64_t int_field(const ojson& j, const char* key) {
  if (!j.contains(key)) return 0;
  const auto& v = j[key];
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_string()) {
    try {
      return std::stoll(v.get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

MispAttribute attribute_from_json(const ojson& j) {
  MispAttribute a;
  a.uuid = j.value("uuid", "");
  a.timestamp = int_field(j, "timestamp");
  a.object_relation = j.value("object_relation", "");
  a.type = j.value("type", "");
  a.category = j.value("category", "");
  a.value = j.value("value", "");
  a.comment = j.value("comment", "");
  a.to_ids = j.value("to_ids", false);
  a.disable_correlation = j.value("disable_correlation", false);
  return a;
}

MispObject object_from_json(const ojson& j) {
  MispObject o;
  o.uuid = j.value("uuid", "");
  o.name = j.value("name", "");
  o.meta_category = j.value("meta-category", "");
  o.description = j.value("description", "");
  o.template_uuid = j.value("template_uuid", "");
  o.template_version = static_cast<int>(int_field(j, "template_version"));
  o.comment = j.value("comment", "");
  o.timestamp = int_field(j, "timestamp");
  if (j.contains("Attribute") && j["Attribute"].is_array())
    for (const auto& a : j["Attribute"])
      if (a.is_object()) o.attributes.push_back(attribute_from_json(a));
  return o;
}

}  // namespace

std::size_t MispEvent::attribute_count() const {
  std::size_t n = attributes.size();
  for (const auto& o : objects) n += o.attributes.size();
  return n;
}

ojson tags_json(const std::vector<std::string>& tags) {
  ojson out = ojson::array();
  for (const auto& t : tags)
    out.push_back({{"name", t}, {"colour", tag_colour(t)}, {"local", false}, {"relationship_type", ""}});
  return out;
}

ojson to_feed_json(const MispEvent& e) {
  ojson ev;
  ev["uuid"] = e.uuid;
  ev["info"] = e.info;
  ev["date"] = e.date;
  ev["timestamp"] = num(e.timestamp);
  ev["publish_timestamp"] = num(e.publish_timestamp);
  ev["published"] = e.published;
  ev["analysis"] = num(e.analysis);
  ev["threat_level_id"] = num(e.threat_level_id);
  ev["distribution"] = num(e.distribution);
  ev["extends_uuid"] = "";
  ev["Orgc"] = {{"name", e.orgc.name}, {"uuid", e.orgc.uuid}};
  ev["Tag"] = tags_json(e.tags);
  ojson attributes = ojson::array();
  for (const auto& a : e.attributes) attributes.push_back(attribute_json(a));
  ev["Attribute"] = std::move(attributes);
  ojson objects = ojson::array();
  for (const auto& o : e.objects) objects.push_back(object_json(o));
  ev["Object"] = std::move(objects);
  ojson root;
  root["Event"] = std::move(ev);
  return root;
}

ojson manifest_entry(const MispEvent& e) {
  ojson m;
  m["Orgc"] = {{"name", e.orgc.name}, {"uuid", e.orgc.uuid}};
  m["Tag"] = tags_json(e.tags);
  m["info"] = e.info;
  m["date"] = e.date;
  m["analysis"] = num(e.analysis);
  m["threat_level_id"] = num(e.threat_level_id);
  m["timestamp"] = num(e.timestamp);
  m["publish_timestamp"] = num(e.publish_timestamp);
  return m;
}

std::optional<PreviousEvent> read_previous_event(std::string_view text) {
  // Ordered, like the file was written: the header signatures compare JSON texts.
  ojson root = ojson::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object() || !root.contains("Event") || !root["Event"].is_object())
    return std::nullopt;
  const auto& ev = root["Event"];
  PreviousEvent p;
  p.timestamp = int_field(ev, "timestamp");
  p.publish_timestamp = int_field(ev, "publish_timestamp");
  p.header = header_signature(ev);
  auto take = [&](const ojson& list) {
    std::vector<std::string> uuids;
    if (!list.is_array()) return uuids;
    for (const auto& a : list) {
      if (!a.is_object()) continue;
      std::string uuid = a.value("uuid", "");
      p.attributes[uuid] = {attribute_signature(attribute_from_json(a)), int_field(a, "timestamp")};
      uuids.push_back(uuid);
    }
    return uuids;
  };
  if (ev.contains("Attribute")) take(ev["Attribute"]);
  if (ev.contains("Object") && ev["Object"].is_array())
    for (const auto& o : ev["Object"]) {
      if (!o.is_object()) continue;
      auto uuids = o.contains("Attribute") ? take(o["Attribute"]) : std::vector<std::string>{};
      p.objects[o.value("uuid", "")] = {object_signature(uuids), int_field(o, "timestamp")};
      p.object_list.push_back(object_from_json(o));
    }
  return p;
}

void stamp(MispEvent& e, const PreviousEvent* previous, std::int64_t now) {
  auto stamp_attribute = [&](MispAttribute& a) {
    if (previous) {
      auto it = previous->attributes.find(a.uuid);
      if (it != previous->attributes.end() && it->second.signature == attribute_signature(a)) {
        a.timestamp = it->second.timestamp;
        return;
      }
    }
    a.timestamp = now;
  };
  std::int64_t newest = 0;
  for (auto& a : e.attributes) {
    stamp_attribute(a);
    newest = std::max(newest, a.timestamp);
  }
  for (auto& o : e.objects) {
    o.timestamp = 0;
    for (auto& a : o.attributes) {
      stamp_attribute(a);
      o.timestamp = std::max(o.timestamp, a.timestamp);
    }
    // An attribute that left the object (a port no longer among the top ones) changes it too.
    const PreviousEvent::Attr* before = nullptr;
    if (previous) {
      auto it = previous->objects.find(o.uuid);
      if (it != previous->objects.end()) before = &it->second;
    }
    if (!before || before->signature != object_signature(uuids_of(o.attributes))) o.timestamp = now;
    newest = std::max(newest, o.timestamp);
  }
  bool header_changed = !previous;
  if (previous) header_changed = header_signature(to_feed_json(e)["Event"]) != previous->header;
  e.timestamp = header_changed ? now : std::max(newest, previous->timestamp);
  // Published once more whenever it changed, so that MISP takes the new version.
  e.publish_timestamp =
      previous && e.timestamp == previous->timestamp ? previous->publish_timestamp : e.timestamp;
}

std::string valid_utf8(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(text);  // ASCII, the common case
  // nlohmann's serializer validates UTF-8; with `replace` it writes U+FFFD for what is invalid.
  std::string quoted =
      nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return nlohmann::json::parse(quoted).get<std::string>();
}

std::string format_datetime(std::int64_t epoch) {
  return core::format_utc(static_cast<std::time_t>(epoch), "%Y-%m-%d %H:%M:%S+00:00");
}

std::string format_date(std::int64_t epoch) {
  return core::format_utc(static_cast<std::time_t>(epoch), "%Y-%m-%d");
}

}  // namespace d4::sharing::misp
