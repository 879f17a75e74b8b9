#include "workers/handlers/registry.hpp"

#include <algorithm>

namespace d4::workers {

// The registration list: one line per D4 type, naming the entry function session_handler_<name>
// that the handler's own file defines. Type 254 has no line: its data belongs to the type-2
// session that announced it (handlers/meta.cpp).
#define D4_SESSION_HANDLERS(X) \
  X(Pcap, pcap)                \
  X(MetaHeader, meta)          \
  X(LogLine, records)          \
  X(Dnscap, records)           \
  X(Pcapng, pcapng)            \
  X(Ndjson, records)           \
  X(Yaf, ipfix)                \
  X(PassiveDnsCsv, records)

#define D4_DECLARE_ENTRY(type, name) \
  std::unique_ptr<SessionHandler> session_handler_##name(protocol::PacketType, const WorkerSettings&);
D4_SESSION_HANDLERS(D4_DECLARE_ENTRY)
#undef D4_DECLARE_ENTRY

const std::vector<SessionHandlerEntry>& session_handlers() {
#define D4_ENTRY(type, name) SessionHandlerEntry{protocol::PacketType::type, &session_handler_##name},
  static const std::vector<SessionHandlerEntry> all = [] {
    std::vector<SessionHandlerEntry> v{D4_SESSION_HANDLERS(D4_ENTRY)};
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.type < b.type; });
    return v;
  }();
#undef D4_ENTRY
  return all;
}

namespace {
const SessionHandlerEntry* find_entry(protocol::PacketType type) {
  for (const auto& e : session_handlers())
    if (e.type == type) return &e;
  return nullptr;
}
}  // namespace

std::unique_ptr<SessionHandler> make_session_handler(protocol::PacketType type,
                                                     const WorkerSettings& settings) {
  const auto* e = find_entry(type);
  return e ? e->make(type, settings) : nullptr;
}

bool has_session_handler(protocol::PacketType type) {
  return find_entry(type) != nullptr;
}

std::vector<protocol::PacketType> registered_types() {
  std::vector<protocol::PacketType> out;
  for (const auto& e : session_handlers()) out.push_back(e.type);
  return out;
}

}  // namespace d4::workers
