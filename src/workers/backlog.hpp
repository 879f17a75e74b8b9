#pragma once
// The byte counts of unprocessed data kept by d4-server (d4:backlog:session and
// d4:backlog:sensor in the stream Redis, see src/server/admission.hpp): the server adds what it
// stores, the worker subtracts what it trims and, when a session is cleaned up or moved aside,
// releases what is left of it. The commands are Lua scripts so that each change is atomic with
// the trim it accounts for.
#include <cstdint>
#include <string>
#include <vector>

#include "core/keys.hpp"

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

// ---- cluster layout (docs/redis-keys.md, "Key layouts") ----
// The stream is in its session's slot (stream:<t>:{<session>}), the counts in the live slot
// ({live}:d4:backlog:*), and a cluster runs no script over two slots, so a trim is two calls:
//   1. count_trimmed_command (live slot): subtracts `bytes` from the session's and the sensor's
//      counts once per trim point: {live}:d4:backlog:trimmed remembers, per stream, the last
//      point applied, and a call whose point is not above it changes nothing;
//   2. XTRIM stream MINID min_id (session slot), which a repetition cannot make remove more.
// Why the counts stay exact: the bytes of the processed entries stay in the worker's committed
// progress (untrimmed:<t>) until the commit after the trim, so a worker that dies anywhere
// between that commit and the next one leaves them to the next owner, who sends the same two
// calls again (same point, same bytes): a death before step 1 has it applied then, a death after
// it has it refused as already applied. The trim point, not what XTRIM removed, decides, so the
// two calls may run in either order (they go to two nodes) and a repeated XTRIM removes nothing.
// In this layout d4-server adds a batch's bytes in a second step too (its relay script, after
// the batch's MULTI), so a worker that processed a batch at once can subtract it first: a count
// may be negative for that moment, and a field is deleted only when it reaches exactly 0 (the
// relay script does the same), never dropped while a relay is still to add to it.
std::vector<std::string> count_trimmed_command(const std::string& stream_key, const std::string& min_id,
                                               const std::string& session, const std::string& sensor,
                                               std::uint64_t bytes);
// Deletes the session's count, subtracts it from its sensor's and forgets the trim points of the
// session's streams. (Run when a session is cleaned up, after every relay of its batches: d4-server
// ends a session only once they are applied.)
std::vector<std::string> release_backlog_command(core::keys::KeyLayout layout, const std::string& session,
                                                 const std::string& sensor,
                                                 const std::vector<std::string>& stream_keys);

}  // namespace d4::workers
