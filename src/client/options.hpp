#pragma once
// Command line of d4-client. Parsed with getopt_long_only so that the Go client's single-dash flags
// (-c -ce -cc -ct -cka -rt -rl -json -daily) and GNU-style double-dash flags both work. Values are
// kept as text here; config.cpp merges them with the configuration directory and validates all.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace d4::client {

// A usage or configuration error: the program prints the message and exits with status 2.
// A bad command line (exit status 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// A bad or incomplete configuration: a file of the configuration directory, a key or meta header
// file (exit status 78). A UsageError too, so callers that only tell "bad settings" apart still work.
class ConfigError : public UsageError {
 public:
  using UsageError::UsageError;
};
// Throws ConfigError when `origin` names a file (it contains a '/'), UsageError when it names a
// flag: a value's origin decides whose mistake it is.
[[noreturn]] void throw_invalid(std::string_view origin, const std::string& message);

struct CommandLine {
  // Canonical long option name -> value, the last occurrence wins ("true"/"false" for booleans).
  std::map<std::string, std::string, std::less<>> values;
  bool help = false;
  bool show_version = false;
  bool check_config = false;  // --check-config: validate, print "configuration OK", exit
  int verbosity = 0;          // +1 per -v, -1 per -q

  std::optional<std::string> get(std::string_view name) const;
  bool has(std::string_view name) const { return values.find(name) != values.end(); }
};

// Throws UsageError on unknown options, missing arguments or stray operands.
CommandLine parse_command_line(int argc, char** argv);
CommandLine parse_command_line(const std::vector<std::string>& args);  // args without argv[0]

std::string help_text();
std::string client_version();

// Value parsers shared by the command line and the configuration directory (throw UsageError
// naming `what`).
// Go-style durations ("200ms", "30s", "5m", "1h30m", "1.5s"); a bare number means seconds.
long long parse_duration_ms(std::string_view text, std::string_view what);
// Byte counts with optional binary suffix: 512, 64k, 16M, 1G (K/M/G = 1024-based; KB/MB/GB too).
unsigned long long parse_size(std::string_view text, std::string_view what);
// Unsigned decimal in [lo, hi].
unsigned long long parse_uint(std::string_view text, unsigned long long lo, unsigned long long hi,
                              std::string_view what);
// true/false/yes/no/on/off/1/0.
bool parse_bool(std::string_view text, std::string_view what);

}  // namespace d4::client
