#pragma once
// d4-passivessl's subcommands (passivessl_main.cpp only parses the options): ja3-jl queue
// ingestion, file imports and the query API.
#include <string>
#include <vector>

#include "analyzers/common/cli.hpp"

namespace d4::analyzers::tls {

struct PassiveSslSettings {
  cli::CommonOptions common;
  std::string storage;
  cli::QueueOptions queue;
  std::vector<std::string> inputs;
  cli::ServeOptions serve;
};

int run_passivessl_ingest(const PassiveSslSettings& s);
int run_passivessl_import(const PassiveSslSettings& s);
int run_passivessl_serve(const PassiveSslSettings& s);
// --check-config: reads what the subcommands read, connects nowhere.
int check_passivessl_config(const PassiveSslSettings& s);

}  // namespace d4::analyzers::tls
