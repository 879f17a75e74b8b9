#pragma once
// Destinations of d4-export: stdout, file, TCP, TLS, UDP, Unix stream and datagram sockets,
// syslog (RFC 5424 over UDP or TCP with octet counting). A sink either delivers an element (to the
// kernel or the TLS layer) or throws: SinkError for a transient failure (reconnect and retry),
// PermanentSinkError when this element can never be sent (e.g. larger than a datagram).
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace d4::queues {

class SinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class PermanentSinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SinkOptions {
  bool newline = true;         // append '\n' to each element (stream-like destinations)
  bool file_contents = false;  // elements are file paths: send the files' contents instead
  std::string ca_file;         // TLS: trust these CAs instead of the system store
  bool insecure = false;       // TLS: no certificate verification (not recommended)
  std::string server_name;     // TLS: name to verify and send as SNI (default: the host)
  int syslog_facility = 16;    // local0
  int syslog_severity = 6;     // informational
  std::string syslog_app = "d4";
  std::string syslog_msgid = "-";
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void connect() = 0;  // throws SinkError
  virtual void send(std::string_view element) = 0;
  virtual void flush() {}
  virtual void close() = 0;
  virtual std::string describe() const = 0;
  // Bytes handed to the destination since start (what send() wrote, framing included).
  std::uint64_t bytes_sent() const { return bytes_sent_; }

 protected:
  void count_sent(std::size_t n) { bytes_sent_ += n; }

 private:
  std::uint64_t bytes_sent_ = 0;
};

// Makes the sink of one destination, SCHEME:ADDRESS; throws std::invalid_argument.
using SinkFactory = std::unique_ptr<Sink> (*)(std::string_view scheme, const std::string& address,
                                              const SinkOptions& options);

// The sinks by URL scheme, one table (D4_EXPORT_SINKS in sinks.cpp). Adding a sink: its own file
// sink_<name>.cpp defining sink_<name>() (a SinkFactory), listed in src/queues/CMakeLists.txt,
// and one line in that table. See docs/architecture.md.
struct SinkScheme {
  std::string_view scheme;  // before the first ':'
  std::string_view syntax;  // as shown in --help, e.g. "tcp:HOST:PORT"
  bool takes_address;       // false: the destination is the scheme alone ("stdout", or "-")
  SinkFactory make;
};
const std::vector<SinkScheme>& sink_schemes();
// "stdout | file:PATH | tcp:HOST:PORT | ..." ([v6]:PORT accepted where HOST:PORT is).
std::string sink_syntax();

std::unique_ptr<Sink> make_sink(const std::string& destination, const SinkOptions& options);

// RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
std::string format_rfc5424(std::string_view msg, const SinkOptions& o, std::string_view hostname, long pid,
                           std::string_view timestamp);

}  // namespace d4::queues
