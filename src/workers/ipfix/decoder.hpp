#pragma once
// Decoding of whole IPFIX messages (RFC 7011): template, options template and data sets of one
// transport session. Templates live per observation domain in a bounded TemplateTable; every
// data record found is handed to a RecordSink with the template that describes it. Malformed sets
// and data for unknown templates are reported to the sink and skipped: one bad set never costs
// the rest of the message, and nothing read past the message's bounds.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "workers/ipfix/message.hpp"
#include "workers/ipfix/templates.hpp"

namespace d4::workers::ipfix {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // `record` holds exactly the bytes of one data record described by `t`.
  virtual void on_record(const MessageHeader& h, const Template& t, std::string_view record) = 0;
  // A non-fatal problem: reason is a short code ("ipfix-unknown-template"...), detail for humans.
  virtual void on_issue(std::string_view reason, std::string detail) = 0;
};

// Size of the data record of template `t` starting at p, or 0 if it does not fit in `avail`.
std::size_t record_length(const Template& t, const char* p, std::size_t avail);

class MessageDecoder {
 public:
  MessageDecoder(std::shared_ptr<const InformationModel> model, TemplateLimits limits)
      : model_(std::move(model)), templates_(limits) {}

  // `message` is one whole message as MessageFramer hands it out (header checked).
  void decode(std::string_view message, RecordSink& sink);

  TemplateTable& templates() { return templates_; }
  const TemplateTable& templates() const { return templates_; }
  const InformationModel& model() const { return *model_; }
  std::uint64_t records() const { return records_; }

 private:
  void template_set(const MessageHeader& h, std::string_view set, bool options, RecordSink& sink);
  void data_set(const MessageHeader& h, std::uint16_t set_id, std::string_view set, RecordSink& sink);

  std::shared_ptr<const InformationModel> model_;
  TemplateTable templates_;
  std::uint64_t records_ = 0;
};

}  // namespace d4::workers::ipfix
