#include "stack/first_run.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "analyzers/registry/descriptor.hpp"
#include "core/keys.hpp"
#include "core/listen_address.hpp"
#include "protocol/net_connect.hpp"
#include "protocol/uuid.hpp"
#include "stack/self_signed.hpp"

namespace fs = std::filesystem;

namespace d4::stack {
namespace {

std::string random_token(std::size_t n) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  while (out.size() < n) {
    unsigned char b[64];
    if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char c : b)
      if (out.size() < n) out += alphabet[c & 63];  // 64 symbols: no modulo bias
  }
  return out;
}

bool port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

bool ipv6_available() {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_any;
  a.sin6_port = 0;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// Host and port of a listen address (core::parse_listen_address; ":port" is "::", all interfaces).
std::pair<std::string, int> split_host_port(const std::string& s) {
  auto a = core::parse_listen_address(s);
  return {a.host, a.port};
}

std::string probe_host(const std::string& host) {
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

}  // namespace

int pick_free_port(int preferred, const std::vector<int>& taken) {
  for (int p = preferred; p < preferred + 200 && p < 65536; ++p)
    if (std::find(taken.begin(), taken.end(), p) == taken.end() && port_free(p)) return p;
  throw std::runtime_error("no free TCP port near " + std::to_string(preferred));
}

bool tcp_port_open(const std::string& host, int port) {
  int fd = protocol::net::connect_to(host, std::to_string(port), SOCK_STREAM, std::chrono::milliseconds(0),
                                     nullptr);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

FirstRun prepare_data_dir(const fs::path& data, const fs::path& config_file) {
  FirstRun fr;
  fs::create_directories(data);
  fs::permissions(data, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  for (const char* sub : {"tls", "logs", "archive", "redis"}) fs::create_directories(data / sub);
  fs::path cert = data / "tls" / "server.crt", cert_key = data / "tls" / "server.key";
  if (!fs::exists(cert) || !fs::exists(cert_key)) {
    write_self_signed_certificate({}, cert, cert_key);
    fr.created_certificate = true;
  }
  if (fs::exists(config_file)) return fr;

  std::vector<int> taken;
  int stream_port = pick_free_port(6379, taken);
  taken.push_back(stream_port);
  int meta_port = pick_free_port(6380, taken);
  taken.push_back(meta_port);
  int sensor_port = pick_free_port(4443, taken);
  taken.push_back(sensor_port);
  int web_port = pick_free_port(7000, taken);
  taken.push_back(web_port);
  int metrics_port = pick_free_port(9120, taken);
  taken.push_back(metrics_port);
  int worker_metrics_port = pick_free_port(9121, taken);
  taken.push_back(worker_metrics_port);
  // Then d4-web's and each analyzer process's, upwards from 9122.
  int next_metrics_port = 9122;
  auto another_metrics_port = [&] {
    int p = pick_free_port(next_metrics_port, taken);
    taken.push_back(p);
    next_metrics_port = p + 1;
    return p;
  };
  int web_metrics_port = another_metrics_port();
  // Each analyzer's section, with a free port for its query API.
  analyzers::FirstRunContext ctx;
  ctx.new_queue_id = [] { return protocol::Uuid::generate_v4().dashed(); };
  ctx.metrics_port = another_metrics_port;
  ctx.meta_endpoint = [&](int db) {
    return "127.0.0.1:" + std::to_string(meta_port) + "/" + std::to_string(db);
  };
  std::string analyzer_sections, analyzer_names, analyzer_list;
  for (const auto& a : analyzers::analyzer_descriptors()) {
    ctx.api_port = 0;
    if (a.preferred_api_port) {
      ctx.api_port = pick_free_port(a.preferred_api_port, taken);
      taken.push_back(ctx.api_port);
    }
    analyzer_sections += (analyzer_sections.empty() ? "" : "\n") + a.first_run_section(ctx);
    analyzer_names += (analyzer_names.empty() ? "" : ", ") + a.summary;
    analyzer_list += (analyzer_list.empty() ? "\"" : ", \"") + a.name + "\"";
  }
  std::string key = random_token(40);

  fs::create_directories(config_file.parent_path());
  fs::path tmp = config_file;
  tmp += ".tmp";
  {
    mode_t old = umask(0077);  // the file holds the default HMAC key
    std::ofstream f(tmp);
    umask(old);
    f << "# D4 configuration, generated by d4-stack on first run. Every option is documented in\n"
         "# docs/configuration.md; relative paths are relative to this file's directory.\n\n"
         "[general]\n"
         "data_dir = \".\"   # archives go to <data_dir>/archive\n"
         "log_level = \"info\"\n"
         "log_format = \"text\"\n\n"
         "[redis]\n"
         "# Volatile stream buffer (packets waiting for workers) and persisted metadata instance\n"
         "# (db 0 metadata, 1 users, 2 analyzer queues, 3 cache), as in the reference D4 server.\n"
      << "stream = \"127.0.0.1:" << stream_port << "/0\"\n"
      << "meta = \"127.0.0.1:" << meta_port << "/0\"\n\n"
      << "[stack]\n"
         "start_redis = true\n"
         "start_web = true\n"
         "# true: the stream Redis keeps an append-only file (fsync every second), so packets stored\n"
         "# but not yet processed survive its restart; costs ingest throughput (docs/BENCHMARKS.md).\n"
         "durable_stream = false\n"
         "# Analyzers run by the stack, each on its own analyzer queue (created at start-up):\n"
      << "# " << analyzer_names << ".\n"
      << "analyzers = [" << analyzer_list << "]\n\n"
      << "[server]\n"
      << "# \"[::]:port\" is dual-stack (IPv4 and IPv6) where the host has IPv6.\n"
      << "listen = [\"" << (ipv6_available() ? "[::]:" : "0.0.0.0:") << sensor_port << "\"]\n"
      << "tls_cert = \"tls/server.crt\"\n"
         "tls_key = \"tls/server.key\"\n"
         "# shared-secret: any v4 UUID may connect with the default key (or its own key);\n"
         "# registration: only approved sensors may connect.\n"
         "mode = \"shared-secret\"\n"
      << "default_hmac_key = \"" << key << "\"\n"
      << "metrics_listen = \"127.0.0.1:" << metrics_port << "\"\n\n"
      << "[workers]\n"
      << "metrics_listen = \"127.0.0.1:" << worker_metrics_port << "\"\n\n"
      << "[web]\n"
      << "listen = \"127.0.0.1:" << web_port << "\"\n"
      << "tls_cert = \"tls/server.crt\"\n"
         "tls_key = \"tls/server.key\"\n"
      << "metrics_listen = \"127.0.0.1:" << web_metrics_port << "\"\n\n"
      << analyzer_sections;
  }
  fs::rename(tmp, config_file);
  fr.created_config = true;

  // A ready-to-use sensor configuration directory for d4-client (reference file names); the
  // client generates and saves the sensor UUID on its first run.
  fs::path sensor = data / "sensor";
  fs::create_directories(sensor);
  auto write_file = [&](const std::string& name, const std::string& content, bool secret) {
    mode_t old = umask(secret ? 0077 : 0022);
    std::ofstream(sensor / name) << content << "\n";
    umask(old);
  };
  write_file("key", key, true);
  write_file("destination", "127.0.0.1:" + std::to_string(sensor_port), false);
  write_file("type", "1", false);
  write_file("version", "1", false);
  write_file("snaplen", "4096", false);
  write_file("source", "stdin", false);
  fs::copy_file(cert, sensor / "rootCA.crt", fs::copy_options::overwrite_existing);
  return fr;
}

namespace {
// [stack] log_max_bytes and log_keep_files. A file smaller than a few lines would rotate at every
// line; more than 1000 kept files is a mistake (and spdlog's rotating sink refuses 200000).
LogRotation read_log_rotation(const toml::table& root) {
  LogRotation r;
  long long max_bytes = core::get_int(root, "stack", "log_max_bytes", static_cast<long long>(r.max_bytes));
  if (max_bytes < 4096)
    throw core::ConfigError(core::where_set(root, "stack", "log_max_bytes") +
                            "option stack.log_max_bytes must be at least 4096");
  long long keep = core::get_int(root, "stack", "log_keep_files", static_cast<long long>(r.keep_files));
  if (keep < 0 || keep > 1000)
    throw core::ConfigError(core::where_set(root, "stack", "log_keep_files") +
                            "option stack.log_keep_files must be between 0 and 1000");
  r.max_bytes = static_cast<std::uint64_t>(max_bytes);
  r.keep_files = static_cast<std::size_t>(keep);
  return r;
}
}  // namespace

StackSettings read_stack_settings(const toml::table& root, const fs::path& base_dir) {
  StackSettings s;
  s.start_redis = core::get_bool(root, "stack", "start_redis", true);
  s.start_web = core::get_bool(root, "stack", "start_web", true);
  s.durable_stream = core::get_bool(root, "stack", "durable_stream", false);
  s.log_rotation = read_log_rotation(root);
  // Configurations written before the stack ran analyzers have no list: none are started.
  if (auto* list = core::get_table(root, "stack") ? (*core::get_table(root, "stack"))["analyzers"].as_array()
                                                  : nullptr) {
    for (const auto& v : *list) {
      auto name = v.value_or(std::string());
      if (!analyzers::find_analyzer(name))
        throw core::ConfigError("stack.analyzers: unknown analyzer \"" + name +
                                "\" (known: " + analyzers::analyzer_names() + ")");
      s.analyzers.push_back(name);
    }
  }
  if (auto* srv = core::get_table(root, "server")) {
    if (auto* l = srv->get("listen")) {
      if (auto* arr = l->as_array(); arr && !arr->empty())
        s.sensor_listen = arr->get(0)->value_or(std::string());
      else
        s.sensor_listen = l->value_or(std::string());
    }
  }
  if (s.sensor_listen.empty()) s.sensor_listen = "0.0.0.0:4443";
  s.web_listen = core::get_string(root, "web", "listen", "127.0.0.1:7000");
  s.metrics_listen = core::get_string(root, "server", "metrics_listen", "");
  s.worker_metrics_listen = core::get_string(root, "workers", "metrics_listen", "");
  s.web_metrics_listen = core::get_string(root, "web", "metrics_listen", "");
  for (const auto& a : analyzers::analyzer_descriptors())
    for (const auto& p : a.processes)
      if (!p.metrics_key.empty())
        if (auto v = core::get_string(root, "analyzers." + a.section, p.metrics_key, ""); !v.empty())
          s.analyzer_metrics_listen.emplace_back(p.name, v);
  s.tls_cert = base_dir / core::get_string(root, "server", "tls_cert", "tls/server.crt");
  // Each analyzer's query API (the analyzer's own default when the configuration names none).
  for (const auto& a : analyzers::analyzer_descriptors()) {
    if (a.default_listen.empty()) continue;
    std::string listen = core::get_string(root, "analyzers." + a.section, "listen", "");
    s.api_listen[a.name] = listen.empty() ? a.default_listen : listen;
  }
  std::string sensor = s.sensor_listen, web = s.web_listen;
  auto api = s.api_listen;
  s.readiness = [sensor, web, api](const std::string& name,
                                   const core::CommonConfig&) -> std::function<bool()> {
    for (const auto& a : analyzers::analyzer_descriptors())
      for (const auto& p : a.processes)
        if (p.serves_api && p.name == name && api.count(a.name)) {
          auto [h, p_port] = split_host_port(api.at(a.name));
          return [host = probe_host(h), port = p_port] { return tcp_port_open(host, port); };
        }
    if (name == "d4-server") {
      auto [h, p] = split_host_port(sensor);
      return [host = probe_host(h), port = p] { return tcp_port_open(host, port); };
    }
    if (name == "d4-web") {
      auto [h, p] = split_host_port(web);
      return [host = probe_host(h), port = p] { return tcp_port_open(host, port); };
    }
    return {};
  };
  return s;
}

void print_summary(std::ostream& out, const fs::path& data, const fs::path& config_file,
                   const toml::table& root, const core::CommonConfig& common, const StackSettings& settings,
                   const FirstRun& first) {
  std::string mode = core::get_string(root, "server", "mode", "registration");
  // A key kept in a file stays there: the summary names the file.
  std::string key = core::has_option(root, "server", "default_hmac_key_file")
                        ? "in " + core::get_string(root, "server", "default_hmac_key_file", "")
                        : core::get_string(root, "server", "default_hmac_key", "private key to change");
  auto [sh, sp] = split_host_port(settings.sensor_listen);
  auto [wh, wp] = split_host_port(settings.web_listen);
  std::string fingerprint;
  try {
    fingerprint = certificate_fingerprint(settings.tls_cert);
  } catch (const std::exception&) {
  }
  // Where d4-worker writes (its rule: [workers] archive_dir, relative to the configuration, or
  // <data_dir>/archive).
  std::string archive_setting = core::get_string(root, "workers", "archive_dir", "");
  fs::path archive_root =
      archive_setting.empty() ? common.data_dir / "archive" : config_file.parent_path() / archive_setting;
  archive_root = archive_root.lexically_normal();
  out << "\nD4 stack is running" << (first.created_config ? " (first run: configuration created)" : "")
      << "\n"
      << "  sensors connect to  tls://<this host>:" << sp << "  (listening on " << settings.sensor_listen
      << ")\n"
      << "  server mode         " << mode << "\n"
      << "  default HMAC key    " << key << "\n"
      << "  certificate         " << settings.tls_cert.string() << "\n"
      << "    SHA-256           " << fingerprint << "\n";
  if (settings.start_web) out << "  web interface       https://" << probe_host(wh) << ":" << wp << "/\n";
  fs::path admin = data / "web" / "ADMIN_PASSWORD";
  if (fs::exists(admin)) out << "  web admin login     see " << admin.string() << "\n";
  if (!settings.metrics_listen.empty())
    out << "  metrics             http://" << settings.metrics_listen << "/metrics\n";
  if (!settings.worker_metrics_listen.empty())
    out << "  worker metrics      http://" << settings.worker_metrics_listen << "/metrics\n";
  if (settings.start_web && !settings.web_metrics_listen.empty())
    out << "  web metrics         http://" << settings.web_metrics_listen << "/metrics\n";
  for (const auto& [process, listen] : settings.analyzer_metrics_listen) {
    bool running = false;
    for (const auto& a : analyzers::analyzer_descriptors())
      for (const auto& p : a.processes)
        running =
            running || (p.name == process && std::find(settings.analyzers.begin(), settings.analyzers.end(),
                                                       a.name) != settings.analyzers.end());
    if (running) out << "  analyzer metrics    http://" << listen << "/metrics  (" << process << ")\n";
  }
  for (const auto& a : analyzers::analyzer_descriptors()) {
    if (std::find(settings.analyzers.begin(), settings.analyzers.end(), a.name) == settings.analyzers.end())
      continue;
    std::string line = a.summary_line;
    if (auto at = line.find("{listen}"); at != std::string::npos && settings.api_listen.count(a.name))
      line.replace(at, 8, settings.api_listen.at(a.name));
    std::string label = a.summary_label;
    label.resize(std::max<std::size_t>(label.size() + 1, 20), ' ');
    out << "  " << label << line << "\n";
  }
  out << "  redis (stream)      " << common.redis.stream.to_string()
      << (settings.durable_stream ? "  (durable: AOF, fsync every second)" : "  (volatile buffer)") << "\n"
      << "  redis (metadata)    " << common.redis.meta.to_string() << "  (analyzer queues: db "
      << common.redis.analyzer.db << ")\n"
      << "  archives            " << archive_root.string() << "\n"
      << "  configuration       " << config_file.string() << "\n"
      << "  logs                " << (data / "logs").string() << "\n\n"
      << "Example sensor (configuration in " << (data / "sensor").string() << "):\n"
      << "  tcpdump -n -s0 -w - | d4-client -c " << (data / "sensor").string() << "\n"
      << "Press Ctrl-C to stop.\n"
      << std::flush;
}

}  // namespace d4::stack
