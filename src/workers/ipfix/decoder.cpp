#include "workers/ipfix/decoder.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace d4::workers::ipfix {
namespace {

bool all_zero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

}  // namespace

std::size_t record_length(const Template& t, const char* p, std::size_t avail) {
  if (t.fixed) return t.min_record <= avail ? t.min_record : 0;
  std::size_t pos = 0;
  for (const auto& f : t.fields) {
    std::size_t len = f.length;
    if (f.length == kVariableLength) {
      if (pos >= avail) return 0;
      len = static_cast<unsigned char>(p[pos++]);
      if (len == 255) {
        if (avail - pos < 2) return 0;
        len = be16(p + pos);
        pos += 2;
      }
    }
    if (avail - pos < len) return 0;
    pos += len;
  }
  return pos;
}

void MessageDecoder::decode(std::string_view message, RecordSink& sink) {
  auto h = MessageHeader::parse(message.data());
  std::size_t pos = kMessageHeaderSize;
  while (pos < message.size()) {
    std::size_t left = message.size() - pos;
    if (left < kSetHeaderSize) {
      sink.on_issue(
          "ipfix-set-invalid",
          fmt::format("domain {} message {}: {} stray bytes after the last set", h.domain, h.sequence, left));
      return;
    }
    std::uint16_t id = be16(message.data() + pos);
    std::uint16_t len = be16(message.data() + pos + 2);
    if (len < kSetHeaderSize || len > left) {
      sink.on_issue("ipfix-set-invalid",
                    fmt::format("domain {} message {}: set {} with length {} ({} bytes left); "
                                "rest of the message skipped",
                                h.domain, h.sequence, id, len, left));
      return;
    }
    std::string_view body = message.substr(pos + kSetHeaderSize, len - kSetHeaderSize);
    if (id == kTemplateSetId || id == kOptionsTemplateSetId)
      template_set(h, body, id == kOptionsTemplateSetId, sink);
    else if (id >= kMinDataSetId)
      data_set(h, id, body, sink);
    else
      sink.on_issue("ipfix-set-invalid", fmt::format("domain {} message {}: reserved set id {} skipped",
                                                     h.domain, h.sequence, id));
    pos += len;
  }
}

void MessageDecoder::template_set(const MessageHeader& h, std::string_view set, bool options,
                                  RecordSink& sink) {
  const char* kind = options ? "options template" : "template";
  std::size_t pos = 0;
  while (pos < set.size()) {
    std::string_view rest = set.substr(pos);
    if (rest.size() < 4 && all_zero(rest)) return;  // padding
    Template t;
    std::string error;
    std::size_t n = parse_template_record(rest.data(), rest.size(), options, *model_, t, error);
    if (n == 0) {
      if (all_zero(rest)) return;  // padding longer than a withdrawal record
      sink.on_issue("ipfix-template-invalid",
                    fmt::format("domain {}: {} set: {}; rest of the set skipped", h.domain, kind, error));
      return;
    }
    pos += n;
    if (!t.fields.empty()) {
      auto added = templates_.add(h.domain, std::move(t));
      if (added == TemplateTable::Added::OverBudget)
        sink.on_issue(
            "ipfix-template-budget",
            fmt::format("domain {}: {} {} refused: the session holds {} templates, {} bytes (limits {}, {})",
                        h.domain, kind, be16(rest.data()), templates_.size(), templates_.bytes(),
                        "ipfix_max_templates", "ipfix_max_template_bytes"));
      continue;
    }
    // Withdrawal (RFC 7011 §8.1): id 2 (3 in an options template set) withdraws them all.
    if (t.id == (options ? kOptionsTemplateSetId : kTemplateSetId)) {
      templates_.withdraw_all(h.domain, options);
    } else if (!templates_.withdraw(h.domain, t.id)) {
      if (t.id == 0 && all_zero(rest)) return;  // padding
      sink.on_issue("ipfix-template-invalid",
                    fmt::format("domain {}: withdrawal of unknown {} {}", h.domain, kind, t.id));
    }
  }
}

void MessageDecoder::data_set(const MessageHeader& h, std::uint16_t set_id, std::string_view set,
                              RecordSink& sink) {
  const Template* t = templates_.find(h.domain, set_id);
  if (!t) {
    sink.on_issue("ipfix-unknown-template",
                  fmt::format("domain {}: data set of {} bytes for unknown template {} skipped", h.domain,
                              set.size(), set_id));
    return;
  }
  std::size_t pos = 0;
  while (set.size() - pos >= t->min_record) {
    std::size_t n = record_length(*t, set.data() + pos, set.size() - pos);
    if (n == 0) {
      if (all_zero(set.substr(pos))) return;  // padding that happens to be as long as a record
      sink.on_issue("ipfix-record-invalid",
                    fmt::format("domain {}: template {}: a variable-length field runs past its set; "
                                "rest of the set skipped",
                                h.domain, set_id));
      return;
    }
    ++records_;
    sink.on_record(h, *t, set.substr(pos, n));
    pos += n;
  }
}

}  // namespace d4::workers::ipfix
