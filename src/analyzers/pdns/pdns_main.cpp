// d4-pdns: passive DNS analyzer. Ingests passivedns CSV (D4 type 8), DNS traffic in captures
// (type 1 or files, live capture) and dnscap text (type 4) into the analyzer-d4-passivedns Redis
// schema, imports COF NDJSON, and serves the COF query API. See docs/analyzers.md.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <algorithm>

#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "analyzers/common/app.hpp"
#include "analyzers/common/frame_source.hpp"
#include "analyzers/common/queue_consumer.hpp"
#include "analyzers/common/tcp_limits.hpp"
#include "analyzers/pdns/cof_import.hpp"
#include "analyzers/pdns/cof_websocket.hpp"
#include "analyzers/pdns/dns_extractor.hpp"
#include "analyzers/pdns/dnscap_text.hpp"
#include "analyzers/pdns/passivedns_csv.hpp"
#include "analyzers/pdns/query.hpp"
#include "analyzers/pdns/rrtype.hpp"
#include "analyzers/pdns/store.hpp"
#include "core/http_server.hpp"
#include "core/keys.hpp"
#include "core/stop_signal.hpp"

namespace {

using namespace d4::analyzers;
using namespace d4::analyzers::pdns;
namespace core = d4::core;

constexpr std::string_view kSection = "analyzers.pdns";

struct Settings {
  std::string config_path;
  std::string log_level, log_format;
  std::string backend;         // pdns storage
  std::string analyzer_redis;  // D4 analyzer queues
  std::string queue;
  std::string queue_type = "8";
  std::string consumer;
  std::string sensor_id;
  std::size_t batch = 0;  // 0: [analyzers.pdns] queue_batch
  bool exit_when_empty = false;
  std::vector<std::string> inputs;
  std::string interface, bpf;
  std::string format = "csv";
  std::string listen;
  std::vector<std::string> tokens;
  std::string origin;
  std::string rdata_style;
  int http_threads = 0;
  std::string websocket_url, ca_file;
  bool insecure = false;
};

struct Runtime {
  AppConfig config;
  core::RedisEndpoint backend;
  StoreOptions store;
  CsvOptions csv;
  ExtractOptions extract;
  std::string origin = "origin not configured";
  std::vector<std::string> tokens;
  std::string listen = "127.0.0.1:8400";
  int http_threads = 4;
};

Runtime build_runtime(const Settings& s) {
  Runtime rt;
  rt.config = load_app_config(s.config_path);
  const auto& root = rt.config.root;
  rt.backend = parse_endpoint(
      !s.backend.empty() ? s.backend : core::get_string(root, kSection, "backend", "127.0.0.1:6400/0"),
      "backend");
  rt.store.batch_records = static_cast<std::size_t>(core::get_int(root, kSection, "batch_records", 2000));
  rt.store.exclude_substrings = get_string_array(root, kSection, "exclude_substrings");
  rt.store.async_writes = core::get_bool(root, kSection, "async_writes", false);
  auto inflight = core::get_int(root, kSection, "inflight_batches", 4);
  if (inflight < 1 || inflight > 64) throw core::ConfigError("analyzers.pdns.inflight_batches must be 1..64");
  rt.store.inflight_batches = static_cast<std::size_t>(inflight);
  rt.store.write_mode = core::get_string(root, kSection, "write_mode", "pipeline");
  if (rt.store.write_mode != "pipeline" && rt.store.write_mode != "script")
    throw core::ConfigError("analyzers.pdns.write_mode must be pipeline or script");
  if (const auto* exp = core::get_table(root, std::string(kSection) + ".expiration")) {
    for (const auto& [k, v] : *exp) {
      auto type = d4::analyzers::dns::parse_type(k.str());
      auto secs = v.value<long long>();
      if (!type || !secs || *secs <= 0)
        throw core::ConfigError("analyzers.pdns.expiration: '" + std::string(k.str()) +
                                "' must be an rrtype = positive seconds");
      rt.store.expiry_seconds[*type] = *secs;
    }
  }
  bool lower_txt = core::get_bool(root, kSection, "lowercase_txt", false);
  rt.csv.normalize.lowercase_txt = lower_txt;
  rt.csv.use_count_field = core::get_bool(root, kSection, "use_count_field", true);
  rt.extract.normalize.lowercase_txt = lower_txt;
  std::string style =
      !s.rdata_style.empty() ? s.rdata_style : core::get_string(root, kSection, "rdata_style", "passivedns");
  if (style == "passivedns")
    rt.extract.style = d4::analyzers::dns::RdataStyle::Passivedns;
  else if (style == "presentation")
    rt.extract.style = d4::analyzers::dns::RdataStyle::Presentation;
  else
    throw core::ConfigError("rdata_style must be passivedns or presentation");
  auto ports = get_int_array(root, kSection, "dns_ports");
  if (!ports.empty()) {
    rt.extract.ports.clear();
    for (auto p : ports) {
      if (p <= 0 || p > 65535) throw core::ConfigError("analyzers.pdns.dns_ports: invalid port");
      rt.extract.ports.push_back(static_cast<std::uint16_t>(p));
    }
  }
  rt.extract.include_authority = core::get_bool(root, kSection, "include_authority", false);
  rt.extract.tcp_options = read_tcp_limits(root, kSection, rt.extract.tcp_options);
  rt.origin =
      !s.origin.empty() ? s.origin : core::get_string(root, kSection, "origin", "origin not configured");
  rt.tokens = !s.tokens.empty() ? s.tokens : get_string_array(root, kSection, "api_tokens");
  rt.listen = !s.listen.empty() ? s.listen : core::get_string(root, kSection, "listen", "127.0.0.1:8400");
  rt.http_threads = s.http_threads > 0 ? s.http_threads
                                       : static_cast<int>(core::get_int(root, kSection, "http_threads", 4));
  return rt;
}

void log_store_stats(const PdnsStore& store) {
  const auto& st = store.stats();
  spdlog::info("stored {} observation(s) ({} distinct per batch total), {} excluded, {} rejected", st.records,
               st.distinct_written, st.excluded, st.rejected);
}

void log_extract_stats(const DnsExtractor& ex) {
  const auto& st = ex.stats();
  spdlog::info(
      "{} frame(s), {} DNS message(s), {} response(s), {} record(s), {} TCP message(s), {} malformed rdata",
      st.frames, st.dns_messages, st.responses, st.records, st.tcp_messages, st.malformed_rdata);
  for (const auto& [reason, n] : st.decode_errors) spdlog::info("  frames not decoded ({}): {}", reason, n);
  for (const auto& [reason, n] : st.parse_errors)
    spdlog::info("  DNS messages not parsed ({}): {}", reason, n);
  spdlog::info("DNS over TCP: {}", d4::analyzers::packet::describe(ex.tcp().stats(), ex.tcp().flow_count(),
                                                                   ex.tcp().memory_bytes()));
}

// Adds a parsed observation, or counts the rejected input (per sensor when it is known).
void handle_csv_line(PdnsStore& store, const CsvOptions& options, std::string_view line,
                     const std::string& sensor_id = {}) {
  PdnsRecord r;
  auto st = parse_passivedns_line(line, r, options);
  if (st == CsvStatus::Ok) {
    r.sensor_id = sensor_id;
    store.add(r);
  } else if (st != CsvStatus::Empty) {
    store.reject(to_string(st), line, sensor_id);
  }
}

// Reads a file (or stdin) line by line.
bool for_each_line(const std::string& path, const std::function<void(std::string_view)>& fn) {
  std::istream* in = &std::cin;
  std::ifstream f;
  if (path != "-") {
    f.open(path, std::ios::binary);
    if (!f) {
      spdlog::error("{}: cannot open", path);
      return false;
    }
    in = &f;
  }
  std::string line;
  while (!core::stop_requested() && std::getline(*in, line)) fn(line);
  return true;
}

int run_files(const Settings& s, const std::string& kind) {
  Runtime rt = build_runtime(s);
  init_analyzer_logging("d4-pdns", rt.config.common, s.log_level, s.log_format);
  core::RedisClient redis(rt.backend);
  PdnsStore store(redis, rt.store);
  auto add = [&](const PdnsRecord& r) {
    retry_redis([&] { store.add(r); }, core::stop_flag(), "pdns storage");
  };
  int failures = 0;
  if (kind == "csv") {
    for (const auto& path : s.inputs)
      if (!for_each_line(path, [&](std::string_view line) {
            retry_redis([&] { handle_csv_line(store, rt.csv, line); }, core::stop_flag(), "pdns storage");
          }))
        ++failures;
  } else if (kind == "dnscap") {
    DnscapParser parser([&](PdnsRecord&& r) { add(r); }, rt.csv.normalize,
                        [&](std::string_view reason, std::string_view text) { store.reject(reason, text); });
    for (const auto& path : s.inputs) {
      if (!for_each_line(path, [&](std::string_view line) {
            parser.feed(line);
            parser.feed("\n");
          }))
        ++failures;
    }
    parser.finish();
    spdlog::info("dnscap: {} message(s), {} response(s), {} record(s), {} malformed, {} unrendered",
                 parser.stats().messages, parser.stats().responses, parser.stats().records,
                 parser.stats().malformed, parser.stats().unrendered);
  } else if (kind == "cof") {
    // One import path for files and websocket messages: bad lines are counted as cof_<reason>.
    std::vector<PdnsRecord> recs;
    auto import_line = [&](std::string_view line) {
      recs.clear();
      auto st = parse_cof_line(line, recs, rt.csv.normalize);
      if (st == CofStatus::Ok) {
        for (const auto& r : recs) add(r);
      } else if (st != CofStatus::Empty) {
        retry_redis([&] { store.reject(std::string("cof_") + std::string(to_string(st)), line); },
                    core::stop_flag(), "pdns storage");
      }
    };
    for (const auto& path : s.inputs)
      if (!for_each_line(path, import_line)) ++failures;
    if (!s.websocket_url.empty()) {
      WebsocketSourceOptions wo;
      wo.url = s.websocket_url;
      wo.ca_file = s.ca_file;
      wo.verify_peer = !s.insecure;
      auto ws = run_websocket_source(
          wo, import_line, [&] { retry_redis([&] { store.flush(); }, core::stop_flag(), "pdns storage"); },
          core::stop_flag());
      spdlog::info("{}: {} connection(s), {} failed attempt(s), {} message(s), {} line(s)", wo.url,
                   ws.connections, ws.failed_attempts, ws.messages, ws.lines);
    }
  } else {  // pcap
    std::string current_sensor;
    DnsExtractor extractor(
        [&](PdnsRecord&& r, const auto&, const auto&) {
          r.sensor_id = current_sensor;
          add(r);
        },
        rt.extract);
    CaptureStats cs;
    TcpPressureLog pressure("d4-pdns");
    if (!s.interface.empty()) {
      d4::analyzers::packet::LiveCapture::Options lo;
      lo.interface = s.interface;
      lo.bpf_filter = s.bpf;
      for_each_live_frame(
          lo, [&](const auto& f) { extractor.process(f); },
          [&] {
            pressure.check(extractor.tcp());
            retry_redis([&] { store.flush(); }, core::stop_flag(), "pdns storage");
          },
          cs, core::stop_flag());
    }
    for (const auto& path : s.inputs) {
      current_sensor = sensor_id_from_path(path).value_or("");
      if (!for_each_frame_in_file(
              path, [&](const auto& f) { extractor.process(f); }, cs, core::stop_flag()))
        ++failures;
      pressure.check(extractor.tcp());
      extractor.finish();
    }
    log_extract_stats(extractor);
  }
  bool flushed = retry_redis([&] { store.flush(); }, core::stop_flag(), "pdns storage");
  log_store_stats(store);
  if (!flushed) {
    spdlog::error("stopped before {} pending observation(s) could be written", store.pending());
    return 3;
  }
  return failures ? 2 : 0;
}

int run_extract(const Settings& s) {
  Runtime rt = build_runtime(s);
  init_analyzer_logging("d4-pdns", rt.config.common, s.log_level, s.log_format);
  struct Key {
    std::string name;
    std::uint16_t type;
    std::string rdata;
    auto operator<=>(const Key&) const = default;
  };
  struct Agg {
    std::int64_t first, last;
    std::uint64_t count;
    std::size_t order;
  };
  std::map<Key, Agg> agg;
  DnsExtractor extractor(
      [&](PdnsRecord&& r, const d4::analyzers::packet::IpAddress& client,
          const d4::analyzers::packet::IpAddress& server) {
        if (s.format == "csv") {
          std::cout << format_passivedns_line(r, client.to_string(), server.to_string()) << '\n';
          return;
        }
        auto [it, inserted] =
            agg.try_emplace(Key{r.rrname, r.rrtype, r.rdata}, Agg{r.time_first, r.time_last, 0, agg.size()});
        it->second.first = std::min(it->second.first, r.time_first);
        it->second.last = std::max(it->second.last, r.time_last);
        it->second.count += r.count;
      },
      rt.extract);
  CaptureStats cs;
  int failures = 0;
  for (const auto& path : s.inputs) {
    if (!for_each_frame_in_file(
            path, [&](const auto& f) { extractor.process(f); }, cs, core::stop_flag()))
      ++failures;
    extractor.finish();
  }
  if (s.format == "cof") {
    std::vector<std::pair<Key, Agg>> rows(agg.begin(), agg.end());
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.second.order < b.second.order; });
    for (const auto& [k, a] : rows) {
      CofRecord c{k.name, k.type, k.rdata, a.first, a.last, static_cast<std::int64_t>(a.count), {}};
      std::cout << format_cof(c, "") << '\n';
    }
  }
  std::cout.flush();
  log_extract_stats(extractor);
  return failures ? 2 : 0;
}

int run_queue(const Settings& s) {
  Runtime rt = build_runtime(s);
  init_analyzer_logging("d4-pdns", rt.config.common, s.log_level, s.log_format);
  std::string queue = !s.queue.empty() ? s.queue : core::get_string(rt.config.root, kSection, "queue", "");
  if (queue.empty()) throw core::ConfigError("no analyzer queue: set --queue or analyzers.pdns.queue");
  std::string type = s.queue_type;
  if (type != "8" && type != "1" && type != "4")
    throw core::ConfigError("queue type must be 8 (passivedns CSV), 1 (pcap file paths) or 4 (dnscap)");
  QueueConsumerOptions qo;
  qo.endpoint = !s.analyzer_redis.empty() ? parse_endpoint(s.analyzer_redis, "analyzer redis")
                                          : rt.config.common.redis.analyzer;
  qo.list_key = core::keys::analyzer_list(type, queue);
  qo.consumer_name = !s.consumer.empty() ? s.consumer
                                         : core::get_string(rt.config.root, kSection, "consumer_name",
                                                            default_consumer_name("d4-pdns", queue));
  // Type-8 lines are taken in large batches: the store then has several write batches in flight
  // within one queue batch, which is acknowledged only once all of them are written.
  std::size_t queue_batch =
      s.batch > 0 ? s.batch
                  : static_cast<std::size_t>(std::clamp<long long>(
                        core::get_int(rt.config.root, kSection, "queue_batch", 10000), 1, 100000));
  qo.batch_size = type == "8" ? queue_batch : 1;
  qo.exit_when_empty = s.exit_when_empty;
  core::RedisClient redis(rt.backend);
  PdnsStore store(redis, rt.store);
  // Queue elements do not name their sensor: a queue fed by a single sensor (a group queue) can be
  // attributed with analyzers.pdns.sensor_id / --sensor-id; type-1 paths name it themselves.
  const std::string fixed_sensor =
      !s.sensor_id.empty() ? s.sensor_id : core::get_string(rt.config.root, kSection, "sensor_id", "");
  std::string sensor_for_records = fixed_sensor;
  DnsExtractor extractor(
      [&](PdnsRecord&& r, const auto&, const auto&) {
        r.sensor_id = sensor_for_records;
        store.add(r);
      },
      rt.extract);
  DnscapParser dnscap(
      [&](PdnsRecord&& r) {
        r.sensor_id = fixed_sensor;
        store.add(r);
      },
      rt.csv.normalize,
      [&](std::string_view reason, std::string_view text) { store.reject(reason, text, fixed_sensor); });
  CaptureStats cs;
  TcpPressureLog pressure("d4-pdns");
  spdlog::info("consuming {} on {} into {}", qo.list_key, qo.endpoint.to_string(), rt.backend.to_string());
  QueueConsumer consumer(qo);
  consumer.run(
      [&](const std::vector<std::string>& batch) {
        // Anything still pending belongs to a batch whose write failed: it is delivered again now.
        store.discard();
        for (const auto& el : batch) {
          if (type == "8") {
            handle_csv_line(store, rt.csv, el, fixed_sensor);
          } else if (type == "1") {
            sensor_for_records = sensor_id_from_path(el).value_or(fixed_sensor);
            if (!for_each_frame_in_file(
                    el, [&](const auto& f) { extractor.process(f); }, cs, core::stop_flag()))
              store.reject("unreadable_capture", el, sensor_for_records);
            pressure.check(extractor.tcp());
            extractor.finish();
          } else {
            std::error_code ec;
            if (!el.empty() && el.front() == '/' && std::filesystem::is_regular_file(el, ec)) {
              for_each_line(el, [&](std::string_view line) {
                dnscap.feed(line);
                dnscap.feed("\n");
              });
              dnscap.finish();
            } else {
              dnscap.feed(el);
              dnscap.feed("\n");
            }
          }
        }
        // Written before the consumer acknowledges the batch: a failure here keeps it queued.
        store.flush();
      },
      core::stop_flag());
  retry_redis([&] { store.flush(); }, core::stop_flag(), "pdns storage");
  log_store_stats(store);
  if (type == "1") log_extract_stats(extractor);
  return 0;
}

int run_serve(const Settings& s) {
  Runtime rt = build_runtime(s);
  init_analyzer_logging("d4-pdns", rt.config.common, s.log_level, s.log_format);
  auto [host, port] = parse_listen(rt.listen);
  core::http::Router router;
  ApiOptions api;
  api.tokens = rt.tokens;
  api.origin = rt.origin;
  mount_pdns_api(router, rt.backend, api);
  core::http::ServerOptions so;
  so.address = host;
  so.port = port;
  so.handler_threads = static_cast<std::size_t>(std::max(1, rt.http_threads));
  so.server_header = "d4-pdns";
  so.tls_cert_file = core::get_string(rt.config.root, kSection, "tls_cert_file", "");
  so.tls_key_file = core::get_string(rt.config.root, kSection, "tls_key_file", "");
  core::http::Server server(std::move(router), so);
  server.start();
  // Printed on stdout so that scripts (and tests) using port 0 learn the chosen port.
  std::cout << "listening on " << host << ":" << server.port() << std::endl;
  spdlog::info("query API on {}:{} ({}), backend {}", host, server.port(),
               rt.tokens.empty() ? "no authentication" : "bearer tokens", rt.backend.to_string());
  serve_until_stopped(server);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  core::install_stop_handlers();
  Settings s;
  CLI::App app{"d4-pdns: passive DNS analyzer (ingestion into Redis/kvrocks, COF query API)"};
  app.require_subcommand(1);
  app.add_option("-c,--config", s.config_path, "D4 configuration file (TOML)");
  app.add_option("--backend", s.backend, "passive DNS storage host:port/db (default 127.0.0.1:6400/0)");
  app.add_option("--log-level", s.log_level, "trace, debug, info, warn, error");
  app.add_option("--log-format", s.log_format, "text or json");
  app.add_option("--rdata-style", s.rdata_style,
                 "passivedns (default) or presentation, for DNS parsed from packets");

  auto* ingest = app.add_subcommand("ingest", "consume a D4 analyzer queue");
  ingest->add_option("-u,--queue", s.queue, "analyzer queue UUID");
  ingest->add_option("-t,--type", s.queue_type, "8: passivedns CSV lines, 1: pcap file paths, 4: dnscap text")
      ->check(CLI::IsMember({"1", "4", "8"}));
  ingest->add_option("--analyzer-redis", s.analyzer_redis,
                     "D4 analyzer queues host:port/db (default [redis] analyzer)");
  ingest->add_option("--consumer", s.consumer, "consumer name (names the processing list)");
  ingest
      ->add_option("--batch", s.batch,
                   "queue elements per batch (default [analyzers.pdns] queue_batch, 10000)")
      ->check(CLI::Range(1, 100000));
  ingest->add_flag("--exit-when-empty", s.exit_when_empty, "return once the queue is drained");
  ingest->add_option("--sensor-id", s.sensor_id,
                     "attribute records and rejects of this queue to a sensor UUID");

  auto* pcap = app.add_subcommand("pcap", "ingest DNS answers from capture files or a live interface");
  pcap->add_option("files", s.inputs, "pcap/pcapng files, gzip allowed, - for stdin");
  pcap->add_option("-i,--interface", s.interface, "live capture interface");
  pcap->add_option("-f,--filter", s.bpf, "BPF filter for live capture");

  auto* csv = app.add_subcommand("csv", "ingest passivedns log files");
  csv->add_option("files", s.inputs, "files, - for stdin")->required();
  auto* dnscap = app.add_subcommand("dnscap", "ingest dnscap -g text output");
  dnscap->add_option("files", s.inputs, "files, - for stdin")->required();
  auto* cof = app.add_subcommand("import-cof", "import COF NDJSON records (files and/or a websocket)");
  cof->add_option("files", s.inputs, "files, - for stdin");
  cof->add_option("--websocket", s.websocket_url,
                  "ws:// or wss:// URL sending COF NDJSON messages; runs until SIGINT/SIGTERM");
  cof->add_option("--ca-file", s.ca_file, "PEM CA certificates for wss:// (default: the system store)")
      ->check(CLI::ExistingFile);
  cof->add_flag("--insecure", s.insecure, "wss:// without certificate verification (testing only)");

  auto* extract = app.add_subcommand("extract", "print the DNS records of captures (no Redis)");
  extract->add_option("files", s.inputs, "pcap/pcapng files")->required();
  extract->add_option("--format", s.format, "csv: one passivedns line per answer; cof: distinct records")
      ->check(CLI::IsMember({"csv", "cof"}));

  auto* serve = app.add_subcommand("serve", "serve the COF query API");
  serve->add_option("-l,--listen", s.listen, "host:port (default 127.0.0.1:8400)");
  serve->add_option("--token", s.tokens,
                    "accepted bearer token (repeatable; default: analyzers.pdns.api_tokens)");
  serve->add_option("--origin", s.origin, "origin field of the records");
  serve->add_option("--threads", s.http_threads, "request handler threads");

  CLI11_PARSE(app, argc, argv);
  return run_tool("d4-pdns", [&] {
    if (*ingest) return run_queue(s);
    if (*pcap) {
      if (s.inputs.empty() && s.interface.empty())
        throw core::ConfigError("give capture files or --interface");
      return run_files(s, "pcap");
    }
    if (*csv) return run_files(s, "csv");
    if (*dnscap) return run_files(s, "dnscap");
    if (*cof) {
      if (s.inputs.empty() && s.websocket_url.empty())
        throw core::ConfigError("give COF files or --websocket");
      if (!s.websocket_url.empty()) {
        std::string error;
        if (!parse_websocket_url(s.websocket_url, &error))
          throw core::ConfigError("--websocket " + s.websocket_url + ": " + error);
      }
      return run_files(s, "cof");
    }
    if (*extract) return run_extract(s);
    if (*serve) return run_serve(s);
    return 0;
  });
}
