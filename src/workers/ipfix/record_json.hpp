#pragma once
// One IPFIX data record as one JSON object (the type-7 queue format, docs/workers.md):
//   {"d4_sensor":"<uuid>","ipfix_domain":1,"ipfix_template":256,
//    "ipfix_export_time":"2024-05-01T10:00:00Z","sourceIPv4Address":"192.0.2.1",...}
// Keys are the element names of the information model ("pen:<pen>:<id>" / "ie:<id>" when
// unknown); values by abstract data type: numbers, addresses as text, times as RFC 3339 UTC with
// the element's precision, strings as text, structured data (RFC 6313 lists) as arrays, anything
// else (octet arrays, unknown elements, lengths that do not fit the type) as lowercase hex.
#include <string>
#include <string_view>

#include "workers/ipfix/decoder.hpp"
#include "workers/ipfix/message.hpp"

namespace d4::workers::ipfix {

// "YYYY-MM-DDTHH:MM:SS[.fraction]Z" for seconds since the epoch (negative: before 1970).
void append_rfc3339(std::string& out, std::int64_t seconds, std::uint32_t fraction = 0, int digits = 0);

class RecordRenderer {
 public:
  // The table resolves the templates of structured data (subTemplateList, subTemplateMultiList).
  RecordRenderer(const TemplateTable& templates, const InformationModel& model)
      : templates_(templates), model_(model) {}

  // Appends the JSON object of `record` (exactly one record of template t) to out.
  void render(std::string& out, std::string_view sensor, const MessageHeader& h, const Template& t,
              std::string_view record) const;

 private:
  void fields(std::string& out, std::uint32_t domain, const Template& t, std::string_view record,
              int depth) const;
  void value(std::string& out, std::uint32_t domain, const FieldSpec& f, std::string_view v, int depth) const;
  bool basic_list(std::string& out, std::uint32_t domain, std::string_view v, int depth) const;
  bool sub_template_list(std::string& out, std::uint32_t domain, std::string_view v, int depth) const;
  bool sub_template_multi_list(std::string& out, std::uint32_t domain, std::string_view v, int depth) const;
  bool records_of(std::string& out, std::uint32_t domain, std::uint16_t tid, std::string_view data,
                  int depth) const;

  const TemplateTable& templates_;
  const InformationModel& model_;
};

}  // namespace d4::workers::ipfix
