#include <fmt/format.h>

#include "workers/ipfix/message.hpp"

namespace d4::workers::ipfix {

std::size_t MessageFramer::check_header(const char* p) {
  auto h = MessageHeader::parse(p);
  if (h.version != kVersion) {
    error_ = fmt::format("IPFIX message {}: version {} (expected 10)", messages_ + 1, h.version);
    return 0;
  }
  if (h.length < kMessageHeaderSize) {
    error_ = fmt::format("IPFIX message {}: length {} is shorter than its header", messages_ + 1, h.length);
    return 0;
  }
  return h.length;
}

void MessageFramer::save(Fields& f, const std::string& prefix) const {
  f[prefix + "carry"] = carry_;
  f[prefix + "messages"] = std::to_string(messages_);
}

void MessageFramer::load(const Fields& f, const std::string& prefix) {
  auto get = [&](const std::string& k) {
    auto it = f.find(prefix + k);
    return it == f.end() ? std::string() : it->second;
  };
  carry_ = get("carry");
  auto n = get("messages");
  messages_ = n.empty() ? 0 : std::stoull(n);
  error_.clear();
}

}  // namespace d4::workers::ipfix
