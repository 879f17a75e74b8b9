// d4-passivessl: consumes ja3-jl records (queue `analyzer:ja3-jl:<queue>`: paths of the JSON files
// written by the D4 server; or files given on the command line), stores deduplicated sessions,
// fingerprints and certificates in Redis, and serves queries over HTTP. See docs/analyzers.md; the
// subcommands live in analyzers/tls/passivessl_app.cpp.
#include "analyzers/tls/passivessl_app.hpp"
#include "core/cli.hpp"
#include "core/stop_signal.hpp"

using namespace d4::analyzers;

int main(int argc, char** argv) {
  d4::core::install_stop_handlers();
  tls::PassiveSslSettings s;
  d4::core::cli::App app{
      "d4-passivessl: passive SSL analyzer (ja3-jl sessions, fingerprints and certificates in Redis)"};
  app.require_subcommand(0, 1);  // required, except with --check-config
  cli::add_common(app, s.common, "d4-passivessl");
  app.add_option("--storage", s.storage,
                 "Redis host:port/db for the passive SSL data (default 127.0.0.1:6400/0)");
  auto* ingest = app.add_subcommand("ingest", "consume the ja3-jl analyzer queue");
  cli::add_queue(*ingest, s.queue, "analyzer queue UUID");
  auto* import = app.add_subcommand(
      "import",
      "store ja3-jl JSON/NDJSON files, DER/PEM certificate files, tar(.gz) archives or directories of them");
  import
      ->add_option("inputs", s.inputs,
                   "files or directories (walked recursively), - for ja3-jl lines on stdin")
      ->required();
  auto* serve = app.add_subcommand("serve", "serve the query API");
  cli::add_serve(*serve, s.serve, "127.0.0.1:8401");
  if (auto status = d4::core::cli::parse(app, argc, argv)) return *status;
  return run_tool("d4-passivessl", [&] {
    if (s.common.check_config) return tls::check_passivessl_config(s);
    d4::core::cli::require_subcommand_unless(app, false);
    if (*ingest) return tls::run_passivessl_ingest(s);
    if (*import) return tls::run_passivessl_import(s);
    return tls::run_passivessl_serve(s);  // require_subcommand(1): serve
  });
}
