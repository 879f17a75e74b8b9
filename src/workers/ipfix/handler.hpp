#pragma once
// Type 7 (YAF / IPFIX): the session handler. See docs/workers.md.
#include <memory>

#include "workers/session.hpp"

namespace d4::workers::ipfix {

std::unique_ptr<SessionHandler> make_session_handler(const WorkerSettings& settings);

}  // namespace d4::workers::ipfix
