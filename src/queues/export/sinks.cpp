#include "queues/export/sinks.hpp"

#include <stdexcept>

namespace d4::queues {

// The registration list: one line per URL scheme, naming the entry function sink_<name> that
// the sink's own file (sink_<name>.cpp) defines, and the syntax shown in --help. One sink may
// serve several schemes (it receives the scheme).
#define D4_EXPORT_SINKS(X)                              \
  X("stdout", stdout, "stdout", false)                  \
  X("file", file, "file:PATH", true)                    \
  X("tcp", socket, "tcp:HOST:PORT", true)               \
  X("tls", tls, "tls:HOST:PORT", true)                  \
  X("udp", socket, "udp:HOST:PORT", true)               \
  X("unix", socket, "unix:PATH", true)                  \
  X("unixgram", socket, "unixgram:PATH", true)          \
  X("syslog-udp", socket, "syslog-udp:HOST:PORT", true) \
  X("syslog-tcp", socket, "syslog-tcp:HOST:PORT", true)

#define D4_DECLARE_SINK(scheme, name, syntax, takes_address) \
  std::unique_ptr<Sink> sink_##name(std::string_view, const std::string&, const SinkOptions&);
D4_EXPORT_SINKS(D4_DECLARE_SINK)
#undef D4_DECLARE_SINK

const std::vector<SinkScheme>& sink_schemes() {
#define D4_SINK_ENTRY(scheme, name, syntax, takes_address) \
  SinkScheme{scheme, syntax, takes_address, &sink_##name},
  static const std::vector<SinkScheme> all = {D4_EXPORT_SINKS(D4_SINK_ENTRY)};
#undef D4_SINK_ENTRY
  return all;
}

std::string sink_syntax() {
  std::string out;
  for (const auto& s : sink_schemes()) out += (out.empty() ? "" : " | ") + std::string(s.syntax);
  return out;
}

std::unique_ptr<Sink> make_sink(const std::string& destination, const SinkOptions& options) {
  const std::string d = destination == "-" ? "stdout" : destination;
  auto colon = d.find(':');
  std::string scheme = d.substr(0, colon);
  std::string rest = colon == std::string::npos ? std::string() : d.substr(colon + 1);
  for (const auto& s : sink_schemes()) {
    if (s.scheme != scheme) continue;
    if (!s.takes_address) {
      if (colon != std::string::npos) break;
      return s.make(scheme, rest, options);
    }
    if (rest.empty()) throw std::invalid_argument("destination \"" + destination + "\" needs an address");
    return s.make(scheme, rest, options);
  }
  throw std::invalid_argument("unknown destination \"" + destination + "\"");
}

}  // namespace d4::queues
