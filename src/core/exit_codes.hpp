#pragma once
// The exit statuses every D4 executable uses (docs/configuration.md#exit-statuses), so that
// scripts and service managers can tell a mistake in the command line or the configuration (which
// a restart will not fix) from a failure at run time. Header-only: the sensor client, built without
// the core library, uses it too. Statuses 3 to 63 are a tool's own, documented with the tool.
namespace d4::core::exit_status {

inline constexpr int kOk = 0;
inline constexpr int kRuntime = 1;  // a failure while running: Redis unreachable, port in use, I/O...
inline constexpr int kUsage = 2;    // a bad command line: unknown option, missing or invalid argument
inline constexpr int kConfig = 78;  // a bad configuration (EX_CONFIG of sysexits.h): file, value, secret

}  // namespace d4::core::exit_status
