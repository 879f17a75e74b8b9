#pragma once
// Ports for tests that run in parallel (ctest -j) on one machine, without races:
//
// - The project's own executables are started on port 0 and report the port the kernel gave them
//   ("listening on <host:port> (<role>)", see core::log_listening); wait_for_listening() reads it.
//   Nothing is chosen first and bound later, so nothing can take it in between.
// - Programs that cannot report a port (redis-server) and listeners that must come back on the same
//   port after a restart get a reserved port: free_port() picks one below the kernel's ephemeral
//   range (which port-0 binds and outgoing connections draw from, so they never collide) and holds
//   an advisory lock on it (flock on a file under the system temporary directory) until the test
//   process exits, so that no other test process on the machine is handed the same port.
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace d4::test {

class Process;

// A TCP port on 127.0.0.1 (and ::1) reserved for this test process until it exits.
int free_port();

// Waits until `log` (a file a process writes) holds "listening on <host>:<port> (<role>)" and
// returns the port. An empty role matches a line without one ("listening on <host>:<port>").
// Throws with the log's text if `process` exits first or the timeout passes.
int wait_for_listening(const std::filesystem::path& log, std::string_view role, Process& process,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

}  // namespace d4::test
