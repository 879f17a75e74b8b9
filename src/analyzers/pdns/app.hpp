#pragma once
// d4-pdns's subcommands (pdns_main.cpp only parses the options): queue ingestion, files (passivedns
// CSV, dnscap text, COF NDJSON and its websocket feed, captures), extraction without Redis, and the
// COF query API. Exit statuses as in docs/analyzers.md.
#include <cstddef>
#include <string>
#include <vector>

#include "analyzers/common/cli.hpp"

namespace d4::analyzers::pdns {

struct Settings {
  cli::CommonOptions common;
  std::string backend;      // pdns storage
  std::string rdata_style;  // "" = [analyzers.pdns] rdata_style
  cli::QueueOptions queue;
  std::string queue_type = "8";
  std::string sensor_id;
  std::size_t batch = 0;  // 0: [analyzers.pdns] queue_batch
  std::vector<std::string> inputs;
  std::string interface, bpf;
  std::string format = "csv";  // extract: csv or cof
  cli::ServeOptions serve;
  std::string origin;
  std::string websocket_url, ca_file;
  bool insecure = false;
};

int run_ingest(const Settings& s);
int run_pcap(const Settings& s);
int run_csv(const Settings& s);
int run_dnscap(const Settings& s);
int run_import_cof(const Settings& s);
int run_extract(const Settings& s);
int run_serve(const Settings& s);
// --check-config: reads everything the subcommands read, connects nowhere.
int check_config(const Settings& s);

}  // namespace d4::analyzers::pdns
