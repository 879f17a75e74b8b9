#pragma once
// Ports for tests that run in parallel (ctest -j) on one machine, without races:
//
// - The project's own executables are started on port 0 and report the port the kernel gave them
//   ("listening on <host:port> (<role>)", see core::log_listening); wait_for_listening()
//   (support/process.hpp) reads it.
//   Nothing is chosen first and bound later, so nothing can take it in between.
// - Programs that cannot report a port (redis-server) and listeners that must come back on the same
//   port after a restart get a reserved port: free_port() picks one below the kernel's ephemeral
//   range (which port-0 binds and outgoing connections draw from, so they never collide) and holds
//   an advisory lock on it (flock on a file under the system temporary directory) until the test
//   process exits, so that no other test process on the machine is handed the same port.

namespace d4::test {

// A TCP port on 127.0.0.1 (and ::1) reserved for this test process until it exits.
int free_port();

// True once a socket of this machine is bound to `port` (TCP: listening; UDP: bound), read from
// /proc/net without connecting: for programs such as socat or redis-server that do not report
// when they are ready, and whose single-connection listeners a probe connection would use up.
enum class Transport { tcp, udp };
bool port_bound(int port, Transport transport = Transport::tcp);

}  // namespace d4::test
