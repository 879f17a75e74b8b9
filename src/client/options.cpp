#include "client/options.hpp"
#include "protocol/text.hpp"

#include <getopt.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/version.hpp"

namespace d4::client {
namespace {

enum class Arg { None, Required, OptionalBool };

struct OptionSpec {
  const char* name;       // as typed after - or --
  const char* canonical;  // key in CommandLine::values
  Arg arg;
};

// Every accepted spelling. Single-letter and Go-compatible names are listed explicitly so that
// getopt_long_only finds an exact match and never treats them as ambiguous abbreviations.
constexpr OptionSpec kOptions[] = {
    {"c", "config", Arg::Required},
    {"config", "config", Arg::Required},
    {"h", "help", Arg::None},
    {"help", "help", Arg::None},
    {"V", "version", Arg::None},
    {"version", "version", Arg::None},
    {"check-config", "check-config", Arg::None},
    {"v", "verbose", Arg::None},
    {"verbose", "verbose", Arg::None},
    {"q", "quiet", Arg::None},
    {"quiet", "quiet", Arg::None},
    // identity and framing
    {"uuid", "uuid", Arg::Required},
    {"key-file", "key-file", Arg::Required},
    {"type", "type", Arg::Required},
    {"protocol-version", "protocol-version", Arg::Required},
    {"snaplen", "snaplen", Arg::Required},
    {"metaheader", "metaheader", Arg::Required},
    {"timestamp", "timestamp", Arg::Required},
    {"chunking", "chunking", Arg::Required},
    // sources
    {"source", "source", Arg::Required},
    {"file", "file", Arg::Required},
    {"interface", "interface", Arg::Required},
    {"i", "interface", Arg::Required},
    {"filter", "filter", Arg::Required},
    {"capture-snaplen", "capture-snaplen", Arg::Required},
    {"promisc", "promisc", Arg::OptionalBool},
    {"folder", "folder", Arg::Required},
    {"json", "json", Arg::OptionalBool},
    {"daily", "daily", Arg::OptionalBool},
    {"folder-existing", "folder-existing", Arg::OptionalBool},
    {"folder-state", "folder-state", Arg::Required},
    {"folder-order", "folder-order", Arg::Required},
    {"redis-d4", "redis-d4", Arg::Required},
    {"redis-queue", "redis-queue", Arg::Required},
    {"forwarder-id", "forwarder-id", Arg::Required},
    {"redis-timeout", "redis-timeout", Arg::Required},
    {"eof", "eof", Arg::Required},
    {"rl", "eof-poll-interval", Arg::Required},
    {"eof-poll-interval", "eof-poll-interval", Arg::Required},
    // destination
    {"destination", "destination", Arg::Required},
    {"ce", "tls", Arg::OptionalBool},
    {"tls", "tls", Arg::OptionalBool},
    {"cc", "cc", Arg::OptionalBool},
    {"insecure", "insecure", Arg::OptionalBool},
    {"ca-file", "ca-file", Arg::Required},
    {"cert", "cert", Arg::Required},
    {"cert-key", "cert-key", Arg::Required},
    {"server-name", "server-name", Arg::Required},
    {"ct", "connect-timeout", Arg::Required},
    {"connect-timeout", "connect-timeout", Arg::Required},
    {"cka", "keepalive", Arg::Required},
    {"keepalive", "keepalive", Arg::Required},
    {"rt", "retry-max", Arg::Required},
    {"retry-max", "retry-max", Arg::Required},
    {"retry-min", "retry-min", Arg::Required},
    {"user-timeout", "user-timeout", Arg::Required},
    {"resend-acked", "resend-acked", Arg::Required},
    // spool, flow control, shutdown, statistics
    {"spool-memory", "spool-memory", Arg::Required},
    {"spool-dir", "spool-dir", Arg::Required},
    {"spool-disk-max", "spool-disk-max", Arg::Required},
    {"overflow", "overflow", Arg::Required},
    {"rate-limit", "rate-limit", Arg::Required},
    {"grace", "grace", Arg::Required},
    {"stats-interval", "stats-interval", Arg::Required},
};
constexpr std::size_t kOptionCount = sizeof(kOptions) / sizeof(kOptions[0]);

}  // namespace

std::optional<std::string> CommandLine::get(std::string_view name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

CommandLine parse_command_line(const std::vector<std::string>& args) {
  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.emplace_back("d4-client");
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  return parse_command_line(static_cast<int>(storage.size()), argv.data());
}

CommandLine parse_command_line(int argc, char** argv) {
  std::vector<option> longopts;
  longopts.reserve(kOptionCount + 1);
  for (std::size_t i = 0; i < kOptionCount; ++i) {
    int has_arg = kOptions[i].arg == Arg::None       ? no_argument
                  : kOptions[i].arg == Arg::Required ? required_argument
                                                     : optional_argument;
    longopts.push_back(option{kOptions[i].name, has_arg, nullptr, static_cast<int>(1000 + i)});
  }
  longopts.push_back(option{nullptr, 0, nullptr, 0});

  CommandLine cl;
  // getopt keeps global state: reset it so that parsing can run more than once (tests).
  optind = 0;
  opterr = 0;
  std::string error;
  for (;;) {
    int index = -1;
    int c = getopt_long_only(argc, argv, "+:", longopts.data(), &index);
    if (c == -1) break;
    if (c == '?') {
      std::string bad = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";
      throw UsageError("unknown or ambiguous option '" + bad + "' (see --help)");
    }
    if (c == ':') {
      std::string bad = (optind > 0 && optind <= argc) ? argv[optind - 1] : "?";
      throw UsageError("option '" + bad + "' needs a value (see --help)");
    }
    const OptionSpec& spec = kOptions[static_cast<std::size_t>(c - 1000)];
    std::string canonical = spec.canonical;
    if (canonical == "help") {
      cl.help = true;
    } else if (canonical == "version") {
      cl.show_version = true;
    } else if (canonical == "check-config") {
      cl.check_config = true;
    } else if (canonical == "verbose") {
      ++cl.verbosity;
    } else if (canonical == "quiet") {
      --cl.verbosity;
    } else if (spec.arg == Arg::OptionalBool) {
      bool v = optarg ? parse_bool(optarg, std::string("-") + spec.name) : true;
      cl.values[canonical] = v ? "true" : "false";
    } else {
      cl.values[canonical] = optarg ? optarg : "";
    }
  }
  if (optind < argc)
    throw UsageError("unexpected argument '" + std::string(argv[optind]) +
                     "' (options take the form -name value or --name=value; see --help)");
  return cl;
}

long long parse_duration_ms(std::string_view text, std::string_view what) {
  std::string s(text::trim(text));
  auto bad = [&]() {
    return UsageError(std::string(what) + ": '" + s +
                      "' is not a duration (examples: 200ms, 30s, 5m, 1h30m)");
  };
  if (s.empty()) throw bad();
  // A bare number is seconds.
  bool all_numeric = s.find_first_not_of("0123456789.") == std::string::npos;
  if (all_numeric) s += "s";
  double total_ms = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) throw bad();
    double number = 0;
    try {
      number = std::stod(s.substr(start, i - start));
    } catch (...) {
      throw bad();
    }
    std::size_t ustart = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string unit = s.substr(ustart, i - ustart);
    double factor;
    if (unit == "ns")
      factor = 1e-6;
    else if (unit == "us" || unit == "\xC2\xB5s")
      factor = 1e-3;
    else if (unit == "ms")
      factor = 1;
    else if (unit == "s")
      factor = 1000;
    else if (unit == "m")
      factor = 60'000;
    else if (unit == "h")
      factor = 3'600'000;
    else
      throw bad();
    total_ms += number * factor;
  }
  if (!std::isfinite(total_ms) || total_ms > 1e12) throw bad();
  return static_cast<long long>(std::llround(total_ms));
}

unsigned long long parse_size(std::string_view text, std::string_view what) {
  std::string s(text::trim(text));
  std::size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  auto bad = [&]() {
    return UsageError(std::string(what) + ": '" + s + "' is not a size (examples: 65536, 64k, 16M, 1G)");
  };
  if (digits == 0) throw bad();
  unsigned long long value = 0;
  auto r = std::from_chars(s.data(), s.data() + digits, value);
  if (r.ec != std::errc()) throw bad();
  std::string suffix = text::ascii_lower(text::trim(s.substr(digits)));
  unsigned long long mult = 1;
  if (suffix.empty() || suffix == "b")
    mult = 1;
  else if (suffix == "k" || suffix == "kb" || suffix == "kib")
    mult = 1ULL << 10;
  else if (suffix == "m" || suffix == "mb" || suffix == "mib")
    mult = 1ULL << 20;
  else if (suffix == "g" || suffix == "gb" || suffix == "gib")
    mult = 1ULL << 30;
  else if (suffix == "t" || suffix == "tb" || suffix == "tib")
    mult = 1ULL << 40;
  else
    throw bad();
  if (value > (~0ULL) / mult) throw bad();
  return value * mult;
}

unsigned long long parse_uint(std::string_view text, unsigned long long lo, unsigned long long hi,
                              std::string_view what) {
  std::string s(text::trim(text));
  unsigned long long v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
    throw_invalid(what, std::string(what) + ": '" + s + "' is not a number");
  if (v < lo || v > hi)
    throw_invalid(what, std::string(what) + ": " + s + " is out of range [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
  return v;
}

bool parse_bool(std::string_view text, std::string_view what) {
  std::string s = text::ascii_lower(text::trim(text));
  if (s == "1" || s == "true" || s == "t" || s == "yes" || s == "y" || s == "on") return true;
  if (s == "0" || s == "false" || s == "f" || s == "no" || s == "n" || s == "off") return false;
  throw_invalid(what, std::string(what) + ": '" + std::string(text) + "' is not a boolean (true or false)");
}

void throw_invalid(std::string_view origin, const std::string& message) {
  if (origin.find('/') != std::string_view::npos) throw ConfigError(message);
  throw UsageError(message);
}

std::string client_version() {
  return "d4-client " + std::string(kVersion) + ", D4 protocol version 1";
}

std::string help_text() {
  return R"(Usage: d4-client -c CONFIG_DIR [options]
       d4-client --uuid UUID --key-file FILE --type N [options]

Reads a source (stdin, a file, a live interface, a folder), cuts it into D4 packets
(62-byte signed header + payload) and writes them to stdout or sends them to a D4 server
over TLS (or plain TCP). Logs and statistics go to stderr only.

Every option accepts one or two leading dashes (-ce and --ce are the same); values are given
as "-name value" or "-name=value". Boolean options take an optional "=true"/"=false".
Options override the files of the configuration directory.

Configuration directory (one value per file; trailing CR/LF is ignored):
  -c, --config DIR          directory with the files below
      uuid                  sensor UUID (v4); generated and saved (mode 0600) if missing or empty
      key                   HMAC-SHA256 key (the raw bytes of the file, trailing CR/LF removed)
      type                  D4 type: 1 pcap, 3 log lines, 4 dnscap, 5 pcapng, 6 ndjson, 7 yaf,
                            8 passivedns CSV, 2 or 254 extended type (needs metaheader.json)
      version               protocol version byte (default 1)
      snaplen               maximum payload bytes per packet (default 4096, at most 1000000)
      source                stdin (default), file, pcap, folder, d4server
      destination           stdout (default), HOST:PORT, IPV4:PORT or [IPV6]:PORT
      metaheader.json       JSON object with a string "type", sent as type 2 before type 254 data
      rootCA.crt            CA certificate(s) trusted for the server (default CA when present)
      file, interface, filter, folder
                            parameters of the file, pcap and folder sources
      redis_d4, redis_queue, forwarder_id
                            d4server source: Redis server (HOST:PORT/DB), list key, forwarder id

Identity and framing:
      --uuid UUID           sensor UUID (overrides DIR/uuid; never written to disk)
      --key-file FILE       file holding the HMAC key (overrides DIR/key)
      --type N              D4 type (overrides DIR/type)
      --protocol-version N  header version byte (overrides DIR/version)
      --snaplen N           maximum payload size (overrides DIR/snaplen)
      --metaheader FILE     meta header JSON file (overrides DIR/metaheader.json)
      --timestamp SECONDS   put this fixed Unix time in every header instead of the current
                            time (reproducible output, tests)
      --chunking MODE       read: one packet per read() of at most snaplen bytes (the C client);
                            record: whole pcap records / lines per packet, pcap global header
                            re-sent on each new connection; auto (default): read for stdout,
                            record for network destinations

Sources:
      --source NAME         stdin | file | pcap | folder | d4server (overrides DIR/source)
      --file PATH           input file of the file source (DIR/file)
  -i, --interface IFACE     capture interface of the pcap source (DIR/interface)
      --filter BPF          capture filter of the pcap source (DIR/filter)
      --capture-snaplen N   bytes captured per frame by the pcap source (default 262144)
      --promisc[=BOOL]      promiscuous capture (default true)
      --folder DIR          folder watched by the folder source (DIR/folder)
  -json[=BOOL]              folder source: send files raw (JSON) instead of base64
  -daily[=BOOL]             folder source: watch FOLDER/YYYYMMDD/ and switch at midnight
      --folder-existing[=BOOL]
                            folder source: first send the files already in the folder (default
                            false: only files written after the start) (DIR/folder_existing)
      --folder-state FILE   with --folder-existing: records the files delivered whole, so that a
                            restart does not send them again (default DIR/folder.state)
      --folder-order ORDER  with --folder-existing: mtime (default; oldest first) or name
      --redis-d4 ADDR       d4server source: Redis with the queue: HOST:PORT/DB, [IPV6]:PORT/DB,
                            unix:/PATH/DB, redis://[USER]:PASSWORD@HOST:PORT/DB (DIR/redis_d4)
      --redis-queue KEY     d4server source: the list forwarded, oldest element first, one line
                            per element, e.g. analyzer:3:<queue uuid> (DIR/redis_queue)
      --forwarder-id ID     d4server source: elements in transit wait in
                            KEY:processing:ID (default: the sensor UUID without dashes)
      --redis-timeout DURATION
                            d4server source: Redis connect and command timeout (default 5s)
      --eof MODE            at end of input: exit (default; sends a final empty packet like the
                            C client) or poll (keep reading, like the Go client)
  -rl, --eof-poll-interval DURATION
                            wait between reads at end of input with --eof=poll (default 200ms)

Destination (network):
      --destination DEST    stdout | HOST:PORT | [IPV6]:PORT (overrides DIR/destination)
  -ce, --tls[=BOOL]         use TLS (default true); -ce=false sends plain TCP
  -cc[=BOOL]                -cc: verify the server with DIR/rootCA.crt (must exist);
                            -cc=false: do not verify (the Go client's default)
      --insecure[=BOOL]     do not verify the server certificate (verification is ON by default)
      --ca-file FILE        CA certificate(s) to trust (default DIR/rootCA.crt if present, else
                            the system store)
      --cert FILE           client certificate (PEM) for mutual TLS
      --cert-key FILE       private key (PEM) of --cert (default: the --cert file)
      --server-name NAME    name for SNI and the certificate check (default: the host of DEST)
  -ct, --connect-timeout DURATION
                            TCP connect + TLS handshake timeout per address (default 10s)
  -cka, --keepalive DURATION
                            TCP keepalive idle time, 0 disables (default 30s)
  -rt, --retry-max DURATION maximum wait between reconnection attempts (default 30s);
                            -rt 0 exits when the connection fails instead of retrying
      --retry-min DURATION  first wait between reconnection attempts (default 500ms); the wait
                            doubles on each failure up to --retry-max, with random jitter
      --user-timeout DURATION
                            drop a connection whose sent data stays unacknowledged this long
                            (TCP_USER_TIMEOUT, default 60s, 0 = system default)
      --resend-acked SIZE   when the server resets the connection (a server that dies with unread
                            data does), also resend up to SIZE bytes of packets its TCP had already
                            acknowledged (default 4M, at most a quarter of --spool-memory; 0
                            disables); otherwise only packets not acknowledged are re-sent

Spool, flow control, shutdown:
      --spool-memory SIZE   memory for packets not yet acknowledged (default 16M)
      --spool-dir DIR       spill to files in DIR when the memory spool is full
      --spool-disk-max SIZE maximum size of the disk spool (default 1G)
      --overflow MODE       when the spool is full: block (default; stop reading the source) or
                            drop (keep reading, drop new data, count and log the drops)
      --rate-limit RATE     maximum output in bytes per second (e.g. 10M); default unlimited
      --grace DURATION      on SIGINT/SIGTERM, time allowed to flush pending data (default 5s)
      --stats-interval DURATION
                            print a statistics line on stderr at this interval (default off)

General:
  -v, --verbose             debug logging
  -q, --quiet               warnings and errors only (twice: errors only)
      --check-config        validate the flags and the configuration directory, then exit
  -V, --version             print the version and exit
  -h, --help                this help

SIGHUP is logged and ignored (nothing to reload: restart to apply changes).
Exit status: 0 success, 1 runtime failure (or data left undelivered), 2 usage error, 78
configuration error (a file of DIR, the key or meta header file).
)";
}

}  // namespace d4::client
