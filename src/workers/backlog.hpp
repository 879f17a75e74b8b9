#pragma once
// The byte counts of unprocessed data kept by d4-server (d4:backlog:session and
// d4:backlog:sensor in the stream Redis, see src/server/admission.hpp): the server adds what it
// stores, the worker subtracts what it trims and, when a session is cleaned up or moved aside,
// releases what is left of it. The commands are Lua scripts so that each change is atomic with
// the trim it accounts for.
#include <cstdint>
#include <string>
#include <vector>

namespace d4::workers {

// XTRIM stream MINID min_id; if entries were removed, subtracts `bytes` (the payload bytes of the
// processed entries since the last trim) from the session's and the sensor's counts. A repeated
// call (after a crash between trim and commit) removes nothing and subtracts nothing.
std::vector<std::string> trim_and_count_command(const std::string& stream_key, const std::string& min_id,
                                                const std::string& session, const std::string& sensor,
                                                std::uint64_t bytes);

// Deletes the session's count and subtracts it from its sensor's.
std::vector<std::string> release_backlog_command(const std::string& session, const std::string& sensor);

// The same release as Lua source, for scripts that move a session's data elsewhere. Expects
// `session` and `sensor` local variables.
extern const char* const kReleaseBacklogLua;

}  // namespace d4::workers
