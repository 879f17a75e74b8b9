#include "workers/ipfix/templates.hpp"

#include <fmt/format.h>

#include "workers/ipfix/message.hpp"

namespace d4::workers::ipfix {
namespace {

std::string key_of(const FieldSpec& f) {
  if (f.info) return f.info->name;
  return f.pen == 0 ? fmt::format("ie:{}", f.id) : fmt::format("pen:{}:{}", f.pen, f.id);
}

// Keys of a record are unique: an element repeated in a template gets "_2", "_3"... (RFC 7011
// allows repeating an element; IANA and CERT names never contain '_').
void assign_keys(Template& t) {
  std::map<std::string, int> seen;
  for (auto& f : t.fields) {
    f.skip = f.pen == 0 && f.id == kPaddingOctets;
    f.key = key_of(f);
    int n = ++seen[f.key];
    if (n > 1) f.key += fmt::format("_{}", n);
  }
}

}  // namespace

std::size_t parse_template_record(const char* p, std::size_t avail, bool options,
                                  const InformationModel& model, Template& out, std::string& error) {
  out = Template{};
  out.options = options;
  if (avail < 4) {
    error = "truncated template record header";
    return 0;
  }
  out.id = be16(p);
  std::uint16_t count = be16(p + 2);
  if (count == 0) return 4;  // withdrawal
  if (out.id < kMinDataSetId) {
    error = fmt::format("template id {} is below 256", out.id);
    return 0;
  }
  std::size_t pos = 4;
  if (options) {
    if (avail < 6) {
      error = fmt::format("options template {}: truncated header", out.id);
      return 0;
    }
    out.scope_count = be16(p + 4);
    pos = 6;
    if (out.scope_count == 0 || out.scope_count > count) {
      error = fmt::format("options template {}: scope field count {} outside 1..{}", out.id, out.scope_count,
                          count);
      return 0;
    }
  }
  out.fields.reserve(count);
  for (std::uint16_t i = 0; i < count; ++i) {
    if (avail - pos < 4) {
      error = fmt::format("template {}: field {} of {} truncated", out.id, i + 1, count);
      return 0;
    }
    FieldSpec f;
    std::uint16_t raw_id = be16(p + pos);
    f.length = be16(p + pos + 2);
    pos += 4;
    f.id = raw_id & static_cast<std::uint16_t>(~kEnterpriseBit);
    if (raw_id & kEnterpriseBit) {
      if (avail - pos < 4) {
        error = fmt::format("template {}: enterprise number of field {} truncated", out.id, i + 1);
        return 0;
      }
      f.pen = be32(p + pos);
      pos += 4;
    }
    if (f.length == 0) {
      error = fmt::format("template {}: field {} has length 0", out.id, i + 1);
      return 0;
    }
    f.info = model.find(f.pen, f.id);
    out.fixed = out.fixed && f.length != kVariableLength;
    out.min_record += f.length == kVariableLength ? 1 : f.length;
    out.fields.push_back(std::move(f));
  }
  assign_keys(out);
  out.raw.assign(p, pos);
  return pos;
}

TemplateTable::Added TemplateTable::add(std::uint32_t domain, Template t) {
  auto it = templates_.find(key(domain, t.id));
  if (it != templates_.end()) {
    if (it->second.raw == t.raw && it->second.options == t.options)
      return Added::Unchanged;  // periodic resend
    bytes_ -= it->second.raw.size();
    if (bytes_ + t.raw.size() > limits_.max_bytes) {
      bytes_ += it->second.raw.size();
      return Added::OverBudget;
    }
    bytes_ += t.raw.size();
    it->second = std::move(t);
    ++version_;
    return Added::Stored;
  }
  if (templates_.size() >= limits_.max_templates || bytes_ + t.raw.size() > limits_.max_bytes)
    return Added::OverBudget;
  bytes_ += t.raw.size();
  templates_.emplace(key(domain, t.id), std::move(t));
  ++version_;
  return Added::Stored;
}

void TemplateTable::erase(std::map<std::uint64_t, Template>::iterator it) {
  bytes_ -= it->second.raw.size();
  templates_.erase(it);
  ++version_;
}

bool TemplateTable::withdraw(std::uint32_t domain, std::uint16_t id) {
  auto it = templates_.find(key(domain, id));
  if (it == templates_.end()) return false;
  erase(it);
  return true;
}

std::size_t TemplateTable::withdraw_all(std::uint32_t domain, bool options) {
  std::size_t n = 0;
  auto it = templates_.lower_bound(key(domain, 0));
  while (it != templates_.end() && (it->first >> 16) == domain) {
    if (it->second.options == options) {
      auto next = std::next(it);
      erase(it);
      it = next;
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

std::string TemplateTable::announcement(std::uint32_t export_time, std::uint32_t sequence) const {
  std::string out;
  std::string message;
  std::uint32_t domain = 0;
  std::size_t set_start = std::string::npos;
  bool set_options = false;
  auto close_set = [&] {
    if (set_start == std::string::npos) return;
    auto len = static_cast<std::uint16_t>(message.size() - set_start);
    message[set_start + 2] = static_cast<char>(len >> 8);
    message[set_start + 3] = static_cast<char>(len & 0xff);
    set_start = std::string::npos;
  };
  auto close_message = [&] {
    close_set();
    if (message.empty()) return;
    auto len = static_cast<std::uint16_t>(message.size());
    message[2] = static_cast<char>(len >> 8);
    message[3] = static_cast<char>(len & 0xff);
    out += message;
    message.clear();
  };
  for (const auto& [k, t] : templates_) {
    auto d = static_cast<std::uint32_t>(k >> 16);
    if (!message.empty() && (d != domain || message.size() + kSetHeaderSize + t.raw.size() > 65535))
      close_message();
    if (message.empty()) {
      domain = d;
      put16(message, kVersion);
      put16(message, 0);  // length, set by close_message
      put32(message, export_time);
      put32(message, sequence);
      put32(message, domain);
    }
    if (set_start != std::string::npos && set_options != t.options) close_set();
    if (set_start == std::string::npos) {
      set_start = message.size();
      set_options = t.options;
      put16(message, t.options ? kOptionsTemplateSetId : kTemplateSetId);
      put16(message, 0);  // length, set by close_set
    }
    message += t.raw;
  }
  close_message();
  return out;
}

std::string TemplateTable::serialize() const {
  std::string out;
  for (const auto& [k, t] : templates_) {
    put32(out, static_cast<std::uint32_t>(k >> 16));
    out.push_back(t.options ? '\1' : '\0');
    put16(out, static_cast<std::uint16_t>(t.raw.size()));
    out += t.raw;
  }
  return out;
}

void TemplateTable::deserialize(std::string_view data, const InformationModel& model) {
  templates_.clear();
  bytes_ = 0;
  std::size_t pos = 0;
  while (data.size() - pos >= 7) {
    std::uint32_t domain = be32(data.data() + pos);
    bool options = data[pos + 4] != '\0';
    std::size_t len = be16(data.data() + pos + 5);
    pos += 7;
    if (data.size() - pos < len) break;
    Template t;
    std::string error;
    if (parse_template_record(data.data() + pos, len, options, model, t, error) == len && !t.fields.empty())
      add(domain, std::move(t));
    pos += len;
  }
  ++version_;
}

}  // namespace d4::workers::ipfix
