#pragma once
// The session handlers of d4-worker, one table keyed by D4 type (registry.cpp). The runner asks
// it for the handler of its type; d4-worker serves every registered type unless told otherwise.
//
// Adding a type handler: a SessionHandler (session.hpp) in its own file or folder under
// src/workers, listed in src/workers/CMakeLists.txt, that defines its entry function
//   std::unique_ptr<SessionHandler> session_handler_<name>(protocol::PacketType, const WorkerSettings&);
// and one line in D4_SESSION_HANDLERS (registry.cpp). See docs/architecture.md.
#include <memory>
#include <vector>

#include "protocol/types.hpp"
#include "workers/session.hpp"

namespace d4::workers {

// Makes the handler of one session; the type is passed so that one handler may serve several.
using SessionHandlerFactory = std::unique_ptr<SessionHandler> (*)(protocol::PacketType,
                                                                  const WorkerSettings&);

struct SessionHandlerEntry {
  protocol::PacketType type;
  SessionHandlerFactory make;
};

// Every registered handler, in increasing type order.
const std::vector<SessionHandlerEntry>& session_handlers();

// The handler for a session of `type`, or nullptr if none is registered.
std::unique_ptr<SessionHandler> make_session_handler(protocol::PacketType type,
                                                     const WorkerSettings& settings);
bool has_session_handler(protocol::PacketType type);
// The types d4-worker serves by default: every registered one.
std::vector<protocol::PacketType> registered_types();

}  // namespace d4::workers
