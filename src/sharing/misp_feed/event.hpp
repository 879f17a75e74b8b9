#pragma once
// A MISP event as a feed carries it ({"Event": {...}} files of a MISP feed directory), the fields
// MISP reads when it pulls a feed, and their JSON form: integers as strings, timestamps as epoch
// seconds in strings, the way MISP and PyMISP write feeds. Attribute values are strings; datetime
// values are "YYYY-MM-DD HH:MM:SS+00:00", the form PyMISP gives them back after loading, so that
// hashes.csv (MD5 of each value) is the same whether MISP, PyMISP or this exporter computes it.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace d4::sharing::misp {

struct Organisation {
  std::string name;
  std::string uuid;  // dashed, lower case
  friend bool operator==(const Organisation&, const Organisation&) = default;
};

struct MispAttribute {
  std::string uuid;
  std::string object_relation;  // empty for attributes outside objects
  std::string type, category, value, comment;
  bool to_ids = false;
  bool disable_correlation = false;
  std::int64_t timestamp = 0;
};

struct MispObject {
  std::string uuid, name, meta_category, description, template_uuid, comment;
  int template_version = 0;
  std::int64_t timestamp = 0;
  std::vector<MispAttribute> attributes;
};

struct MispEvent {
  std::string uuid, info;
  std::string date;  // YYYY-MM-DD
  Organisation orgc;
  std::vector<std::string> tags;
  int analysis = 0;         // 0 initial, 1 ongoing, 2 completed
  int threat_level_id = 4;  // 1 high .. 4 undefined
  int distribution = 0;     // 0 your organisation only .. 3 all communities
  bool published = true;
  std::int64_t timestamp = 0, publish_timestamp = 0;
  std::vector<MispAttribute> attributes;
  std::vector<MispObject> objects;

  std::size_t attribute_count() const;
};

// {"Event": {...}} with the feed's fields.
nlohmann::ordered_json to_feed_json(const MispEvent& e);
// The event's entry in manifest.json: {info, Orgc, Tag, date, analysis, threat_level_id,
// timestamp, publish_timestamp}.
nlohmann::ordered_json manifest_entry(const MispEvent& e);
// The tag list as a feed carries it (name, colour, local, relationship_type).
nlohmann::ordered_json tags_json(const std::vector<std::string>& tags);

// What an earlier export wrote for an event, read back from its file: the attribute timestamps
// (kept while a value does not change, so MISP sees no edit) and the event's own.
struct PreviousEvent {
  std::string text;  // the file as it is (an unchanged event is not written again)
  std::int64_t timestamp = 0, publish_timestamp = 0;
  std::string header;  // event-level fields and the object uuids, to tell whether they changed
  struct Attr {
    std::string signature;
    std::int64_t timestamp = 0;
  };
  std::map<std::string, Attr> attributes;  // attribute uuid -> what it was
  std::map<std::string, Attr> objects;     // object uuid -> its attribute uuids, timestamp
  std::vector<MispObject> object_list;     // the objects themselves, in file order
};
// Parses an event file; nullopt when it is missing or not an event.
std::optional<PreviousEvent> read_previous_event(std::string_view text);

// Gives each attribute, object and the event their timestamp: an attribute that an earlier export
// wrote identically keeps its timestamp, anything new or changed gets `now`; an object takes the
// newest of its attributes; the event the newest of everything, or `now` when its own fields or
// its set of objects changed.
void stamp(MispEvent& e, const PreviousEvent* previous, std::int64_t now);

// The text with every invalid UTF-8 sequence replaced by U+FFFD: values come from the network
// (DNS data, certificate names, sensors' tags) and JSON carries only UTF-8; the value hashed into
// hashes.csv is the one written.
std::string valid_utf8(std::string_view text);

// "YYYY-MM-DD HH:MM:SS+00:00" (UTC) for datetime attributes.
std::string format_datetime(std::int64_t epoch);
// "YYYY-MM-DD" (UTC).
std::string format_date(std::int64_t epoch);

}  // namespace d4::sharing::misp
