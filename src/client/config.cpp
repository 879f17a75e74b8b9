#include "client/config.hpp"

#include "client/config_dir.hpp"
#include "protocol/header.hpp"
#include "protocol/metaheader.hpp"
#include "protocol/net_connect.hpp"
#include "protocol/text.hpp"
#include "protocol/types.hpp"

namespace d4::client {
namespace {

// A setting given by a flag, else by a file of the configuration directory.
struct Lookup {
  const CommandLine& cl;
  const ConfigDir* dir;

  // Returns the value and where it came from (for error messages).
  std::optional<std::string> get(const std::string& flag, const std::string& file,
                                 std::string* origin) const {
    if (auto v = cl.get(flag)) {
      if (origin) *origin = "--" + flag;
      return v;
    }
    if (dir && !file.empty()) {
      if (auto v = dir->value(file)) {
        if (origin) *origin = dir->file(file);
        return v;
      }
    }
    return std::nullopt;
  }
};

// --folder-existing, --folder-state, --folder-order (and their files in DIR).
void resolve_folder_existing(Settings& s, const Lookup& lk) {
  std::string origin;
  if (auto v = lk.get("folder-existing", "folder_existing", &origin))
    s.folder_existing = parse_bool(text::trim(*v), origin);
  // The state file's own path has no file in DIR: its default location is DIR/folder.state.
  auto state = lk.get("folder-state", "", &origin);
  auto order = lk.get("folder-order", "folder_order", &origin);
  if (!s.folder_existing) {
    if (lk.cl.has("folder-state") || lk.cl.has("folder-order"))
      throw UsageError("--folder-state and --folder-order are used with --folder-existing only");
    return;
  }
  if (s.source != SourceKind::Folder) throw UsageError("--folder-existing is an option of the folder source");
  if (state)
    s.folder_state = *state;
  else if (lk.dir)
    s.folder_state = lk.dir->file("folder.state");
  else
    throw UsageError(
        "--folder-existing needs a state file: --folder-state FILE, or -c DIR (DIR/folder.state)");
  if (order) {
    std::string o = text::ascii_lower(text::trim(*order));
    if (o == "mtime")
      s.folder_order = FolderOrder::Mtime;
    else if (o == "name")
      s.folder_order = FolderOrder::Name;
    else
      throw_invalid(origin, origin + ": '" + *order + "' must be mtime or name");
  }
}

// The sensor: UUID (flag, file, or generated and saved in DIR), HMAC key, protocol version,
// type, snaplen, fixed timestamp and meta header.
void resolve_identity(Settings& s, const Lookup& lk, ConfigDir* dir) {
  const CommandLine& cl = lk.cl;
  std::string origin;
  // UUID: flag, file, or generated (and saved in the directory).
  if (auto u = lk.get("uuid", "uuid", &origin)) {
    auto parsed = protocol::Uuid::parse(*u);
    if (!parsed) throw_invalid(origin, origin + ": '" + *u + "' is not a UUID");
    if (!parsed->is_v4())
      throw_invalid(origin,
                    origin + ": " + parsed->dashed() +
                        " is not a version 4 UUID (D4 servers reject it); delete the file to generate one");
    s.uuid = *parsed;
  } else if (dir) {
    s.uuid = protocol::Uuid::generate_v4();
    if (!cl.check_config) {  // checking changes nothing
      dir->persist_uuid(s.uuid);
      s.uuid_generated = true;
    }
  } else {
    throw UsageError("no sensor UUID: give -c DIR (a UUID is generated there if missing) or --uuid");
  }

  // Key: the raw bytes of the file without trailing CR/LF.
  if (auto kf = cl.get("key-file")) {
    s.key = strip_line_end(read_whole_file(*kf));
    if (s.key.empty()) throw ConfigError("--key-file " + *kf + " is empty");
  } else if (dir && dir->exists("key")) {
    s.key = strip_line_end(read_whole_file(dir->file("key")));
    if (s.key.empty()) throw ConfigError(dir->file("key") + " is empty");
  } else {
    throw ConfigError(std::string("no HMAC key: ") +
                      (dir ? "create " + dir->file("key") : std::string("give -c DIR with a key file")) +
                      " or pass --key-file FILE");
  }

  if (auto v = lk.get("protocol-version", "version", &origin))
    s.version = static_cast<std::uint8_t>(parse_uint(*v, 1, 255, origin));

  if (auto t = lk.get("type", "type", &origin)) {
    s.type = static_cast<std::uint8_t>(parse_uint(*t, 1, 255, origin));
    if (!protocol::is_assigned_type(s.type))
      throw_invalid(origin, origin + ": type " + std::to_string(s.type) +
                                " is not a D4 type (1-8, or 2/254 with a meta header)");
  } else {
    throw ConfigError("no D4 type: create " + (dir ? dir->file("type") : std::string("DIR/type")) +
                      " or pass --type N");
  }
  s.data_type = (s.type == 2 || s.type == 254) ? 254 : s.type;

  if (auto v = lk.get("snaplen", "snaplen", &origin))
    s.snaplen = static_cast<std::uint32_t>(parse_uint(*v, 1, protocol::kDefaultMaxPayload, origin));

  if (auto v = cl.get("timestamp")) s.fixed_timestamp = parse_uint(*v, 0, ~0ULL, "--timestamp");

  if (s.data_type == 254) {
    std::string path;
    if (auto m = cl.get("metaheader"))
      path = *m;
    else if (dir && dir->exists("metaheader.json"))
      path = dir->file("metaheader.json");
    else
      throw ConfigError("type " + std::to_string(s.type) +
                        " needs a meta header: create DIR/metaheader.json or pass --metaheader FILE");
    s.metaheader = read_whole_file(path, protocol::kMaxMetaHeaderSize);
    std::string err;
    if (!protocol::parse_meta_header(s.metaheader, &err)) throw ConfigError(path + ": " + err);
  } else if (cl.has("metaheader")) {
    throw UsageError("--metaheader is only used with type 2 or 254");
  }
}

// Where the data comes from: the source and its options, end-of-file behaviour.
void resolve_source(Settings& s, const Lookup& lk) {
  const CommandLine& cl = lk.cl;
  std::string origin;
  std::string source = "stdin";
  if (auto v = lk.get("source", "source", &origin)) source = text::ascii_lower(text::trim(*v));
  if (source == "stdin")
    s.source = SourceKind::Stdin;
  else if (source == "file")
    s.source = SourceKind::File;
  else if (source == "pcap")
    s.source = SourceKind::Pcap;
  else if (source == "folder")
    s.source = SourceKind::Folder;
  else if (source == "d4server")
    s.source = SourceKind::D4Server;
  else
    throw_invalid(origin, "source '" + source + "' is unknown (stdin, file, pcap, folder, d4server)");

  if (auto v = lk.get("file", "file", &origin)) s.file = *v;
  if (auto v = lk.get("interface", "interface", &origin)) s.interface = std::string(text::trim(*v));
  if (auto v = lk.get("filter", "filter", &origin)) s.filter = *v;
  if (auto v = lk.get("folder", "folder", &origin)) s.folder = *v;
  if (auto v = cl.get("capture-snaplen"))
    s.capture_snaplen = static_cast<std::uint32_t>(parse_uint(*v, 64, 262144, "--capture-snaplen"));
  if (auto v = cl.get("promisc")) s.promisc = parse_bool(*v, "--promisc");
  if (auto v = cl.get("json")) s.folder_json = parse_bool(*v, "-json");
  if (auto v = cl.get("daily")) s.folder_daily = parse_bool(*v, "-daily");
  if (s.source == SourceKind::File && s.file.empty())
    throw UsageError("source file needs --file PATH (or DIR/file)");
  if (s.source == SourceKind::Pcap && s.interface.empty())
    throw UsageError("source pcap needs --interface IFACE (or DIR/interface)");
  if (s.source == SourceKind::Folder && s.folder.empty())
    throw UsageError("source folder needs --folder DIR (or DIR/folder)");
  resolve_folder_existing(s, lk);
  if (s.source == SourceKind::D4Server) {
    auto addr = lk.get("redis-d4", "redis_d4", &origin);
    if (!addr) throw UsageError("source d4server needs --redis-d4 HOST:PORT/DB (or DIR/redis_d4)");
    s.redis_address = parse_redis_address(text::trim(*addr), origin);
    auto queue = lk.get("redis-queue", "redis_queue", &origin);
    if (!queue || text::trim(*queue).empty())
      throw UsageError(
          "source d4server needs --redis-queue KEY (or DIR/redis_queue), e.g. analyzer:3:<queue uuid>");
    s.redis_queue = std::string(text::trim(*queue));
    if (auto v = lk.get("forwarder-id", "forwarder_id", &origin))
      s.forwarder_id = std::string(text::trim(*v));
    else
      s.forwarder_id = s.uuid.dashless();
    if (s.forwarder_id.empty()) throw_invalid(origin, origin + ": empty forwarder id");
    if (auto v = cl.get("redis-timeout")) {
      s.redis_timeout = Millis(parse_duration_ms(*v, "--redis-timeout"));
      if (s.redis_timeout.count() <= 0) throw UsageError("--redis-timeout must be positive");
    }
    // Queue elements are records; only line-based types carry them as they are.
    if (s.data_type != 3 && s.data_type != 6 && s.data_type != 8 && s.data_type != 254)
      throw UsageError(
          "source d4server forwards queues of records as lines: type 3, 6, 8 or 2/254 (type " +
          std::to_string(s.type) +
          " queues hold file paths or binary data; forward pcap archives with the folder source)");
  }

  if (auto v = cl.get("eof")) {
    std::string m = text::ascii_lower(*v);
    if (m == "exit")
      s.eof = EofMode::Exit;
    else if (m == "poll")
      s.eof = EofMode::Poll;
    else
      throw UsageError("--eof: '" + *v + "' must be exit or poll");
  }
  if (auto v = cl.get("eof-poll-interval")) {
    s.eof_poll = Millis(parse_duration_ms(*v, "-rl"));
    if (s.eof_poll.count() <= 0) throw UsageError("-rl: the poll interval must be positive");
  }
}

// Where the packets go: stdout or HOST:PORT, TLS and its files.
void resolve_destination(Settings& s, const Lookup& lk) {
  const CommandLine& cl = lk.cl;
  const ConfigDir* dir = lk.dir;
  std::string origin;
  std::string dest = "stdout";
  if (auto v = lk.get("destination", "destination", &origin)) dest = std::string(text::trim(*v));
  if (text::ascii_lower(dest) == "stdout") {
    s.to_stdout = true;
  } else {
    s.to_stdout = false;
    try {
      split_host_port(dest, s.host, s.port);
    } catch (const UsageError& e) {
      throw_invalid(origin, e.what());
    }
  }
  if (auto v = cl.get("tls")) s.tls = parse_bool(*v, "-ce");
  if (auto v = cl.get("cc")) {
    if (parse_bool(*v, "-cc")) {
      if (!dir || !dir->exists("rootCA.crt")) throw UsageError("-cc needs DIR/rootCA.crt");
      s.verify = true;
      s.ca_file = dir->file("rootCA.crt");
    } else {
      s.verify = false;
    }
  }
  if (auto v = cl.get("insecure"))
    if (parse_bool(*v, "--insecure")) s.verify = false;
  if (auto v = cl.get("ca-file"))
    s.ca_file = *v;
  else if (s.ca_file.empty() && dir && dir->exists("rootCA.crt"))
    s.ca_file = dir->file("rootCA.crt");
  if (auto v = cl.get("cert")) s.cert_file = *v;
  if (auto v = cl.get("cert-key")) s.cert_key_file = *v;
  if (!s.cert_key_file.empty() && s.cert_file.empty()) throw UsageError("--cert-key needs --cert");
  if (!s.cert_file.empty() && s.cert_key_file.empty()) s.cert_key_file = s.cert_file;
  if (auto v = cl.get("server-name"))
    s.server_name = *v;
  else if (!s.to_stdout)
    s.server_name = s.host;
  if (!s.to_stdout && s.tls) {
    for (const std::string* f : {&s.ca_file, &s.cert_file, &s.cert_key_file})
      if (!f->empty()) read_whole_file(*f);  // readable? (throws a clear message)
  }
}

// Connection timing: connect and user timeouts, keepalive, reconnection backoff, resends.
void resolve_connection(Settings& s, const Lookup& lk) {
  const CommandLine& cl = lk.cl;
  if (auto v = cl.get("connect-timeout")) {
    s.connect_timeout = Millis(parse_duration_ms(*v, "-ct"));
    if (s.connect_timeout.count() <= 0) s.connect_timeout = Millis(10'000);
  }
  if (auto v = cl.get("keepalive")) s.keepalive = Millis(parse_duration_ms(*v, "-cka"));
  if (auto v = cl.get("retry-min")) s.retry_min = Millis(parse_duration_ms(*v, "--retry-min"));
  if (auto v = cl.get("retry-max")) {
    s.retry_max = Millis(parse_duration_ms(*v, "-rt"));
    if (s.retry_max.count() == 0) s.exit_on_connect_failure = true;
  }
  if (s.retry_min.count() <= 0) s.retry_min = Millis(1);
  if (!s.exit_on_connect_failure && s.retry_min > s.retry_max) s.retry_min = s.retry_max;
  if (auto v = cl.get("user-timeout")) s.user_timeout = Millis(parse_duration_ms(*v, "--user-timeout"));
  if (auto v = cl.get("resend-acked")) s.resend_acked = parse_size(*v, "--resend-acked");
}

// Chunking, the spool and flow control (overflow, rate limit), shutdown grace, statistics.
void resolve_flow(Settings& s, const Lookup& lk) {
  const CommandLine& cl = lk.cl;
  // Chunking.
  s.chunking = s.to_stdout ? Chunking::Read : Chunking::Record;
  if (auto v = cl.get("chunking")) {
    std::string m = text::ascii_lower(*v);
    if (m == "read")
      s.chunking = Chunking::Read;
    else if (m == "record")
      s.chunking = Chunking::Record;
    else if (m != "auto")
      throw UsageError("--chunking: '" + *v + "' must be read, record or auto");
  }

  // Spool and flow control.
  if (auto v = cl.get("spool-memory")) s.spool_memory = parse_size(*v, "--spool-memory");
  if (auto v = cl.get("spool-dir")) s.spool_dir = *v;
  if (auto v = cl.get("spool-disk-max")) s.spool_disk_max = parse_size(*v, "--spool-disk-max");
  // Room for a few maximal packets; record chunking may hold a split unit of up to 1 MiB.
  std::uint64_t min_spool = 4ULL * (s.snaplen + 256);
  if (s.chunking == Chunking::Record && min_spool < (4ULL << 20)) min_spool = 4ULL << 20;
  if (s.spool_memory < min_spool) s.spool_memory = min_spool;
  if (auto v = cl.get("overflow")) {
    std::string m = text::ascii_lower(*v);
    if (m == "block")
      s.overflow = Overflow::Block;
    else if (m == "drop")
      s.overflow = Overflow::Drop;
    else
      throw UsageError("--overflow: '" + *v + "' must be block or drop");
  }
  if (s.folder_existing && s.overflow == Overflow::Drop)
    throw UsageError(
        "--overflow drop cannot be used with --folder-existing (files are recorded as delivered)");
  if (s.source == SourceKind::D4Server && s.overflow == Overflow::Drop)
    throw UsageError(
        "--overflow drop cannot be used with source d4server (queue elements are never dropped)");
  if (auto v = cl.get("rate-limit")) s.rate_limit = parse_size(*v, "--rate-limit");
  if (auto v = cl.get("grace")) s.grace = Millis(parse_duration_ms(*v, "--grace"));
  if (auto v = cl.get("stats-interval")) s.stats_interval = Millis(parse_duration_ms(*v, "--stats-interval"));
}

}  // namespace

std::string Settings::destination_text() const {
  if (to_stdout) return "stdout";
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
  return host + ":" + port;
}

void split_host_port(const std::string& dest, std::string& host, std::string& port) {
  auto bad = [&](const std::string& why) {
    return UsageError("destination '" + dest + "': " + why + " (expected stdout, HOST:PORT or [IPV6]:PORT)");
  };
  std::string why;
  auto hp = protocol::net::split_host_port(dest, &why);
  if (!hp) throw bad(why);
  host = std::move(hp->host);
  port = std::move(hp->port);
  if (host.empty()) throw bad("empty host");
  parse_uint(port, 1, 65535, "destination port");
}

Settings resolve_settings(const CommandLine& cl) {
  Settings s;
  std::optional<ConfigDir> dir;
  if (auto d = cl.get("config")) {
    if (d->empty()) throw UsageError("-c: empty configuration directory name");
    dir.emplace(*d);
    s.config_dir = dir->path();
  }
  Lookup lk{cl, dir ? &*dir : nullptr};

  if (cl.verbosity >= 1)
    s.log_level = LogLevel::Debug;
  else if (cl.verbosity == -1)
    s.log_level = LogLevel::Warn;
  else if (cl.verbosity <= -2)
    s.log_level = LogLevel::Error;

  resolve_identity(s, lk, dir ? &*dir : nullptr);
  resolve_source(s, lk);
  resolve_destination(s, lk);
  resolve_connection(s, lk);
  resolve_flow(s, lk);
  return s;
}

}  // namespace d4::client
