#include "analyzers/pdns/app.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>

#include "analyzers/common/analyzer_metrics.hpp"
#include "analyzers/common/frame_source.hpp"
#include "analyzers/common/tcp_limits.hpp"
#include "analyzers/pdns/cof_import.hpp"
#include "analyzers/pdns/cof_websocket.hpp"
#include "analyzers/pdns/dns_extractor.hpp"
#include "analyzers/pdns/dnscap_text.hpp"
#include "analyzers/pdns/passivedns_csv.hpp"
#include "analyzers/pdns/query.hpp"
#include "analyzers/pdns/rrtype.hpp"
#include "analyzers/pdns/store.hpp"
#include "core/cli.hpp"
#include "core/keys.hpp"
#include "core/stop_signal.hpp"

namespace d4::analyzers::pdns {
namespace {

constexpr std::string_view kTool = "d4-pdns";
constexpr std::string_view kSection = "analyzers.pdns";

struct Runtime {
  AppConfig config;
  core::RedisEndpoint backend;
  StoreOptions store;
  CsvOptions csv;
  ExtractOptions extract;
};

void read_store_options(const toml::table& root, StoreOptions& o) {
  o.batch_records = static_cast<std::size_t>(core::get_int(root, kSection, "batch_records", 2000));
  o.exclude_substrings = get_string_array(root, kSection, "exclude_substrings");
  o.async_writes = core::get_bool(root, kSection, "async_writes", false);
  auto inflight = core::get_int(root, kSection, "inflight_batches", 4);
  if (inflight < 1 || inflight > 64) throw core::ConfigError("analyzers.pdns.inflight_batches must be 1..64");
  o.inflight_batches = static_cast<std::size_t>(inflight);
  o.write_mode = core::get_string(root, kSection, "write_mode", "pipeline");
  if (o.write_mode != "pipeline" && o.write_mode != "script")
    throw core::ConfigError("analyzers.pdns.write_mode must be pipeline or script");
  if (const auto* exp = core::get_table(root, std::string(kSection) + ".expiration")) {
    for (const auto& [k, v] : *exp) {
      auto type = dns::parse_type(k.str());
      auto secs = v.value<long long>();
      if (!type || !secs || *secs <= 0)
        throw core::ConfigError("analyzers.pdns.expiration: '" + std::string(k.str()) +
                                "' must be an rrtype = positive seconds");
      o.expiry_seconds[*type] = *secs;
    }
  }
}

void read_extract_options(const toml::table& root, const Settings& s, ExtractOptions& o) {
  o.normalize.lowercase_txt = core::get_bool(root, kSection, "lowercase_txt", false);
  std::string style =
      !s.rdata_style.empty() ? s.rdata_style : core::get_string(root, kSection, "rdata_style", "passivedns");
  if (style == "passivedns")
    o.style = dns::RdataStyle::Passivedns;
  else if (style == "presentation")
    o.style = dns::RdataStyle::Presentation;
  else
    throw core::ConfigError("rdata_style must be passivedns or presentation");
  auto ports = get_int_array(root, kSection, "dns_ports");
  if (!ports.empty()) {
    o.ports.clear();
    for (auto p : ports) {
      if (p <= 0 || p > 65535) throw core::ConfigError("analyzers.pdns.dns_ports: invalid port");
      o.ports.push_back(static_cast<std::uint16_t>(p));
    }
  }
  o.include_authority = core::get_bool(root, kSection, "include_authority", false);
  o.tcp_options = read_tcp_limits(root, kSection, o.tcp_options);
}

Runtime start(const Settings& s) {
  Runtime rt;
  rt.config = cli::start(kTool, s.common);
  const auto& root = rt.config.root;
  rt.backend = !s.backend.empty() ? core::cli::endpoint_argument(s.backend, "--backend")
                                  : core::get_endpoint(root, kSection, "backend",
                                                       *core::RedisEndpoint::parse(kDefaultBackend));
  read_store_options(root, rt.store);
  read_extract_options(root, s, rt.extract);
  rt.csv.normalize = rt.extract.normalize;
  rt.csv.use_count_field = core::get_bool(root, kSection, "use_count_field", true);
  return rt;
}

// What the batches written so far added to the store's statistics: a batch delivered again after
// a failed write counts once. Kept and published by the ingest thread (the store is not
// thread-safe).
constexpr const char* kPdnsRejectsHelp = "Input lines or records rejected, by reason";

class CommittedStoreStats {
 public:
  void begin(const PdnsStore& store) { before_ = store.stats(); }
  void commit(const PdnsStore& store) {
    const auto& now = store.stats();
    total_.records += now.records - before_.records;
    total_.excluded += now.excluded - before_.excluded;
    total_.writes += now.writes - before_.writes;
    add_counts_since(total_.rejected_by_reason, now.rejected_by_reason, before_.rejected_by_reason);
    before_ = now;
  }
  void publish(AnalyzerMetrics& m) const {
    if (!m.enabled()) return;
    m.set_counter("d4_pdns_records_total", "Observations written to the passive DNS store", total_.records);
    m.set_counter("d4_pdns_records_excluded_total", "Observations skipped by exclude_substrings",
                  total_.excluded);
    m.set_counter("d4_pdns_write_batches_total", "Batches written to the passive DNS storage", total_.writes);
    m.declare_counter("d4_pdns_rejects_total", kPdnsRejectsHelp);
    m.set_counters_by_reason("d4_pdns_rejects_total", kPdnsRejectsHelp, total_.rejected_by_reason);
  }

 private:
  StoreStats before_, total_;
};

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
  spdlog::info("DNS over TCP: {}",
               packet::describe(ex.tcp().stats(), ex.tcp().flow_count(), ex.tcp().memory_bytes()));
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

void retry_storage(const std::function<void()>& fn) {
  retry_redis(fn, core::stop_flag(), "pdns storage");
}

// The file subcommands: opens the store, runs `body` (which returns the number of inputs that
// could not be read), then writes everything pending.
int with_store(const Settings& s, const std::function<int(Runtime&, PdnsStore&)>& body) {
  Runtime rt = start(s);
  core::RedisClient redis(rt.backend);
  PdnsStore store(redis, rt.store);
  int failures = body(rt, store);
  bool flushed = retry_redis([&] { store.flush(); }, core::stop_flag(), "pdns storage");
  log_store_stats(store);
  if (!flushed) {
    spdlog::error("stopped before {} pending observation(s) could be written", store.pending());
    return kExitResultsNotWritten;
  }
  return failures ? kExitInputUnreadable : 0;
}

}  // namespace

int run_csv(const Settings& s) {
  return with_store(s, [&](Runtime& rt, PdnsStore& store) {
    int failures = 0;
    for (const auto& path : s.inputs)
      if (!for_each_line(path, [&](std::string_view line) {
            retry_storage([&] { handle_csv_line(store, rt.csv, line); });
          }))
        ++failures;
    return failures;
  });
}

int run_dnscap(const Settings& s) {
  return with_store(s, [&](Runtime& rt, PdnsStore& store) {
    int failures = 0;
    DnscapParser parser([&](PdnsRecord&& r) { retry_storage([&] { store.add(r); }); }, rt.csv.normalize,
                        [&](std::string_view reason, std::string_view text) { store.reject(reason, text); });
    for (const auto& path : s.inputs)
      if (!for_each_line(path, [&](std::string_view line) {
            parser.feed(line);
            parser.feed("\n");
          }))
        ++failures;
    parser.finish();
    const auto& st = parser.stats();
    spdlog::info("dnscap: {} message(s), {} response(s), {} record(s), {} malformed, {} unrendered",
                 st.messages, st.responses, st.records, st.malformed, st.unrendered);
    return failures;
  });
}

int run_import_cof(const Settings& s) {
  return with_store(s, [&](Runtime& rt, PdnsStore& store) {
    int failures = 0;
    // One import path for files and websocket messages: bad lines are counted as cof_<reason>.
    std::vector<PdnsRecord> recs;
    auto import_line = [&](std::string_view line) {
      recs.clear();
      auto st = parse_cof_line(line, recs, rt.csv.normalize);
      if (st == CofStatus::Ok) {
        for (const auto& r : recs) retry_storage([&] { store.add(r); });
      } else if (st != CofStatus::Empty) {
        retry_storage([&] { store.reject(std::string("cof_") + std::string(to_string(st)), line); });
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
          wo, import_line, [&] { retry_storage([&] { store.flush(); }); }, core::stop_flag());
      spdlog::info("{}: {} connection(s), {} failed attempt(s), {} message(s), {} line(s)", wo.url,
                   ws.connections, ws.failed_attempts, ws.messages, ws.lines);
    }
    return failures;
  });
}

int run_pcap(const Settings& s) {
  return with_store(s, [&](Runtime& rt, PdnsStore& store) {
    int failures = 0;
    std::string current_sensor;
    DnsExtractor extractor(
        [&](PdnsRecord&& r, const auto&, const auto&) {
          r.sensor_id = current_sensor;
          retry_storage([&] { store.add(r); });
        },
        rt.extract);
    CaptureStats cs;
    TcpPressureLog pressure(kTool);
    if (!s.interface.empty()) {
      cli::CaptureOptions live{{}, s.interface, s.bpf};
      for_each_live_frame(
          cli::live_options(live, kTool, rt.config), [&](const auto& f) { extractor.process(f); },
          [&] {
            pressure.check(extractor.tcp());
            retry_storage([&] { store.flush(); });
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
    return failures;
  });
}

namespace {

// Distinct (name, type, rdata) of `extract --format cof`, in order of first sight.
class CofAggregate {
 public:
  void add(const PdnsRecord& r) {
    auto [it, inserted] =
        rows_.try_emplace(Key{r.rrname, r.rrtype, r.rdata}, Agg{r.time_first, r.time_last, 0, rows_.size()});
    it->second.first = std::min(it->second.first, r.time_first);
    it->second.last = std::max(it->second.last, r.time_last);
    it->second.count += r.count;
  }
  void print(std::ostream& out) const {
    std::vector<std::pair<Key, Agg>> rows(rows_.begin(), rows_.end());
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.second.order < b.second.order; });
    for (const auto& [k, a] : rows) {
      CofRecord c{k.name, k.type, k.rdata, a.first, a.last, static_cast<std::int64_t>(a.count), {}};
      out << format_cof(c, "") << '\n';
    }
  }

 private:
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
  std::map<Key, Agg> rows_;
};

}  // namespace

int run_extract(const Settings& s) {
  Runtime rt = start(s);
  CofAggregate agg;
  DnsExtractor extractor(
      [&](PdnsRecord&& r, const packet::IpAddress& client, const packet::IpAddress& server) {
        if (s.format == "csv")
          std::cout << format_passivedns_line(r, client.to_string(), server.to_string()) << '\n';
        else
          agg.add(r);
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
  if (s.format == "cof") agg.print(std::cout);
  std::cout.flush();
  log_extract_stats(extractor);
  return failures ? kExitInputUnreadable : 0;
}

namespace {

// Takes one analyzer-queue element of type 8 (a CSV line), 1 (a capture path) or 4 (dnscap text
// or a path to it) into the store.
class QueueElementHandler {
 public:
  QueueElementHandler(Runtime& rt, PdnsStore& store, std::string type, std::string fixed_sensor)
      : rt_(rt),
        store_(store),
        type_(std::move(type)),
        fixed_sensor_(std::move(fixed_sensor)),
        sensor_(fixed_sensor_),
        extractor_(
            [this](PdnsRecord&& r, const auto&, const auto&) {
              r.sensor_id = sensor_;
              store_.add(r);
            },
            rt.extract),
        dnscap_(
            [this](PdnsRecord&& r) {
              r.sensor_id = fixed_sensor_;
              store_.add(r);
            },
            rt.csv.normalize,
            [this](std::string_view reason, std::string_view text) {
              store_.reject(reason, text, fixed_sensor_);
            }) {}

  void handle(const std::string& el) {
    if (type_ == "8") {
      handle_csv_line(store_, rt_.csv, el, fixed_sensor_);
    } else if (type_ == "1") {
      sensor_ = sensor_id_from_path(el).value_or(fixed_sensor_);
      if (!for_each_frame_in_file(
              el, [&](const auto& f) { extractor_.process(f); }, captures_, core::stop_flag()))
        store_.reject("unreadable_capture", el, sensor_);
      pressure_.check(extractor_.tcp());
      extractor_.finish();
    } else {
      std::error_code ec;
      if (!el.empty() && el.front() == '/' && std::filesystem::is_regular_file(el, ec)) {
        for_each_line(el, [&](std::string_view line) {
          dnscap_.feed(line);
          dnscap_.feed("\n");
        });
        dnscap_.finish();
      } else {
        dnscap_.feed(el);
        dnscap_.feed("\n");
      }
    }
  }
  const DnsExtractor& extractor() const { return extractor_; }

 private:
  Runtime& rt_;
  PdnsStore& store_;
  std::string type_, fixed_sensor_, sensor_;
  DnsExtractor extractor_;
  DnscapParser dnscap_;
  CaptureStats captures_;
  TcpPressureLog pressure_{kTool};
};

}  // namespace

int run_ingest(const Settings& s) {
  Runtime rt = start(s);
  const auto& root = rt.config.root;
  std::string queue = !s.queue.queue.empty() ? s.queue.queue : core::get_string(root, kSection, "queue", "");
  if (queue.empty()) throw core::ConfigError("no analyzer queue: set --queue or analyzers.pdns.queue");
  const std::string& type = s.queue_type;
  if (type != "8" && type != "1" && type != "4")
    throw core::ConfigError("queue type must be 8 (passivedns CSV), 1 (pcap file paths) or 4 (dnscap)");
  QueueConsumerOptions qo = cli::consumer_options(s.queue, rt.config, kSection, kTool, type, queue);
  // Type-8 lines are taken in large batches: the store then has several write batches in flight
  // within one queue batch, which is acknowledged only once all of them are written.
  std::size_t queue_batch = s.batch > 0
                                ? s.batch
                                : static_cast<std::size_t>(std::clamp<long long>(
                                      core::get_int(root, kSection, "queue_batch", 10000), 1, 100000));
  qo.batch_size = type == "8" ? queue_batch : 1;
  AnalyzerMetrics metrics(std::string(kTool),
                          cli::metrics_listen(s.queue.metrics_listen, rt.config, kSection, "metrics_listen"));
  if (metrics.enabled())
    rt.store.inflight_gauge = &metrics.registry().gauge(
        "d4_pdns_write_batches_in_flight", "Batches written to the storage whose replies are outstanding");
  core::RedisClient redis(rt.backend);
  PdnsStore store(redis, rt.store);
  // Queue elements do not name their sensor: a queue fed by a single sensor (a group queue) can be
  // attributed with analyzers.pdns.sensor_id / --sensor-id; type-1 paths name it themselves.
  QueueElementHandler handler(
      rt, store, type,
      !s.sensor_id.empty() ? s.sensor_id : core::get_string(root, kSection, "sensor_id", ""));
  spdlog::info("consuming {} on {} into {}", qo.list_key, qo.endpoint.to_string(), rt.backend.to_string());
  auto consumer = std::make_shared<QueueConsumer>(qo);
  metrics.watch_consumer(consumer);
  metrics.start();
  cli::drop_privileges(kTool, rt.config);
  CommittedStoreStats committed;
  committed.publish(metrics);  // every series from the start, at 0
  consumer->run(
      [&](const std::vector<std::string>& batch) {
        // Anything still pending belongs to a batch whose write failed: it is delivered again now.
        store.discard();
        committed.begin(store);
        for (const auto& el : batch) handler.handle(el);
        // Written before the consumer acknowledges the batch: a failure here keeps it queued.
        store.flush();
        committed.commit(store);
        committed.publish(metrics);
      },
      core::stop_flag());
  retry_storage([&] { store.flush(); });
  log_store_stats(store);
  if (type == "1") log_extract_stats(handler.extractor());
  return 0;
}

int check_config(const Settings& s) {
  Runtime rt = start(s);  // [general], [redis], backend, storage and extraction options
  cli::serve_options(s.serve, rt.config, kSection, "127.0.0.1:8400", kTool);
  cli::tokens(s.serve, rt.config, kSection);
  for (auto key : {"queue", "sensor_id", "origin", "consumer_name"})
    core::get_string(rt.config.root, kSection, key, "");
  return cli::config_ok(kTool, s.common);
}

int run_serve(const Settings& s) {
  Runtime rt = start(s);
  core::http::Router router;
  ApiOptions api;
  api.tokens = cli::tokens(s.serve, rt.config, kSection);
  api.origin = !s.origin.empty()
                   ? s.origin
                   : core::get_string(rt.config.root, kSection, "origin", "origin not configured");
  mount_pdns_api(router, rt.backend, api);
  cli::serve(std::move(router), s.serve, rt.config, kSection, "127.0.0.1:8400", kTool,
             std::string(api.tokens.empty() ? "no authentication" : "bearer tokens") + ", backend " +
                 rt.backend.to_string(),
             rt.backend);
  return 0;
}

}  // namespace d4::analyzers::pdns
