// d4-pdns: passive DNS analyzer. Ingests passivedns CSV (D4 type 8), DNS traffic in captures
// (type 1 or files, live capture) and dnscap text (type 4) into the analyzer-d4-passivedns Redis
// schema, imports COF NDJSON, and serves the COF query API. See docs/analyzers.md; the
// subcommands live in analyzers/pdns/app.cpp.
#include "analyzers/pdns/app.hpp"
#include "analyzers/pdns/cof_websocket.hpp"
#include "core/cli.hpp"
#include "core/stop_signal.hpp"

using namespace d4::analyzers;

int main(int argc, char** argv) {
  d4::core::install_stop_handlers();
  pdns::Settings s;
  d4::core::cli::App app{"d4-pdns: passive DNS analyzer (ingestion into Redis/kvrocks, COF query API)"};
  app.require_subcommand(0, 1);  // required, except with --check-config
  cli::add_common(app, s.common, "d4-pdns");
  app.add_option("--backend", s.backend, "passive DNS storage host:port/db (default 127.0.0.1:6400/0)");
  app.add_option("--rdata-style", s.rdata_style,
                 "passivedns (default) or presentation, for DNS parsed from packets");

  auto* ingest = app.add_subcommand("ingest", "consume a D4 analyzer queue");
  cli::add_queue(*ingest, s.queue, "analyzer queue UUID");
  ingest->add_option("-t,--type", s.queue_type, "8: passivedns CSV lines, 1: pcap file paths, 4: dnscap text")
      ->check(d4::core::cli::IsMember({"1", "4", "8"}));
  ingest
      ->add_option("--batch", s.batch,
                   "queue elements per batch (default [analyzers.pdns] queue_batch, 10000)")
      ->check(d4::core::cli::Range(1, 100000));
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
      ->check(d4::core::cli::ExistingFile);
  cof->add_flag("--insecure", s.insecure, "wss:// without certificate verification (testing only)");
  auto* extract = app.add_subcommand("extract", "print the DNS records of captures (no Redis)");
  extract->add_option("files", s.inputs, "pcap/pcapng files")->required();
  extract->add_option("--format", s.format, "csv: one passivedns line per answer; cof: distinct records")
      ->check(d4::core::cli::IsMember({"csv", "cof"}));
  auto* serve = app.add_subcommand("serve", "serve the COF query API");
  cli::add_serve(*serve, s.serve, "127.0.0.1:8400");
  serve->add_option("--origin", s.origin, "origin field of the records");
  if (auto status = d4::core::cli::parse(app, argc, argv)) return *status;

  return run_tool("d4-pdns", [&] {
    if (s.common.check_config) return pdns::check_config(s);
    d4::core::cli::require_subcommand_unless(app, false);
    if (*ingest) return pdns::run_ingest(s);
    if (*pcap) {
      if (s.inputs.empty() && s.interface.empty())
        throw d4::core::cli::UsageError("give capture files or --interface");
      return pdns::run_pcap(s);
    }
    if (*csv) return pdns::run_csv(s);
    if (*dnscap) return pdns::run_dnscap(s);
    if (*cof) {
      if (s.inputs.empty() && s.websocket_url.empty())
        throw d4::core::cli::UsageError("give COF files or --websocket");
      std::string error;
      if (!s.websocket_url.empty() && !pdns::parse_websocket_url(s.websocket_url, &error))
        throw d4::core::cli::UsageError("--websocket " + s.websocket_url + ": " + error);
      return pdns::run_import_cof(s);
    }
    if (*extract) return pdns::run_extract(s);
    return pdns::run_serve(s);  // require_subcommand(1): serve
  });
}
