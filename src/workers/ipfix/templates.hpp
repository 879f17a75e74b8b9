#pragma once
// IPFIX templates and options templates (RFC 7011 §3.4), per observation domain of one session
// (a D4 session is one transport session). The table has a budget: a sensor can define at most
// `max_templates` templates holding at most `max_bytes` of definitions; a template past the budget
// is refused (and counted by the caller), so its data sets count as unknown templates.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workers/ipfix/information_model.hpp"

namespace d4::workers::ipfix {

constexpr std::uint16_t kVariableLength = 65535;
constexpr std::uint16_t kEnterpriseBit = 0x8000;
constexpr std::uint16_t kPaddingOctets = 210;  // IANA paddingOctets: never output

struct FieldSpec {
  std::uint16_t id = 0;               // without the enterprise bit
  std::uint16_t length = 0;           // kVariableLength for variable-length fields
  std::uint32_t pen = 0;              // 0: IANA
  const ElementInfo* info = nullptr;  // nullptr: not in the information model
  std::string key;                    // JSON key: the element name, "pen:<pen>:<id>" or "ie:<id>" if unknown
  bool skip = false;                  // padding
};

struct Template {
  std::uint16_t id = 0;
  bool options = false;
  std::uint16_t scope_count = 0;  // options templates: the first scope_count fields are scope fields
  std::vector<FieldSpec> fields;
  std::size_t min_record = 0;  // bytes of a record whose variable-length fields are empty
  bool fixed = true;           // no variable-length field: every record is min_record bytes
  std::string raw;             // the template record as received (saved, and repeated in archives)
};

struct TemplateLimits {
  std::size_t max_templates = 4096;  // per session, every observation domain together
  std::size_t max_bytes = 1 << 20;   // sum of the template records' sizes
};

// Parses one template record at `p` (set 2 or 3) of at most `avail` bytes. Returns its size, or 0
// when it is malformed (error set); withdrawals (field count 0) return 4 with an empty field list.
std::size_t parse_template_record(const char* p, std::size_t avail, bool options,
                                  const InformationModel& model, Template& out, std::string& error);

class TemplateTable {
 public:
  enum class Added { Stored, Unchanged, OverBudget };

  explicit TemplateTable(TemplateLimits limits) : limits_(limits) {}

  const Template* find(std::uint32_t domain, std::uint16_t id) const {
    auto it = templates_.find(key(domain, id));
    return it == templates_.end() ? nullptr : &it->second;
  }
  Added add(std::uint32_t domain, Template t);
  bool withdraw(std::uint32_t domain, std::uint16_t id);         // false if unknown
  std::size_t withdraw_all(std::uint32_t domain, bool options);  // RFC 7011 §8.1 ids 2 and 3
  std::size_t size() const { return templates_.size(); }
  std::size_t bytes() const { return bytes_; }
  // Increases with every change; the handler saves the table only when it changed.
  std::uint64_t version() const { return version_; }

  // Template sets re-announcing every template, one or more IPFIX messages per domain, with the
  // given export time and sequence number: written at the start of each archive file so that
  // every file decodes alone.
  std::string announcement(std::uint32_t export_time, std::uint32_t sequence) const;

  std::string serialize() const;
  // Restores a serialized table (templates re-parsed, so the element names of this process' model).
  void deserialize(std::string_view data, const InformationModel& model);

 private:
  static std::uint64_t key(std::uint32_t domain, std::uint16_t id) {
    return (std::uint64_t{domain} << 16) | id;
  }
  void erase(std::map<std::uint64_t, Template>::iterator it);

  TemplateLimits limits_;
  std::map<std::uint64_t, Template> templates_;  // ordered: announcements group by domain
  std::size_t bytes_ = 0;
  std::uint64_t version_ = 0;
};

}  // namespace d4::workers::ipfix
