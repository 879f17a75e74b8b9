// d4-tls-fingerprint: TLS fingerprinting sensor (sensor-d4-tls-fingerprinting). Emits one ja3-jl
// JSON line per TLS session (for `d4-client` with type 254 and meta header {"type":"ja3-jl"}), or
// lists the JA3/JA3S of every hello (--format psv). Inputs: capture files, live capture, or the
// D4 type-1 analyzer queue. See docs/analyzers.md; the run lives in analyzers/tls/fingerprint_app.cpp.
#include <iostream>

#include "analyzers/tls/fingerprint_app.hpp"
#include "core/cli.hpp"
#include "core/exit_codes.hpp"
#include "core/stop_signal.hpp"

using namespace d4::analyzers;

int main(int argc, char** argv) {
  d4::core::install_stop_handlers();
  tls::FingerprintSettings s;
  d4::core::cli::App app{
      "d4-tls-fingerprint: TLS fingerprinting sensor (JA3/JA3S, certificates) producing ja3-jl lines"};
  cli::add_common(app, s.common, "d4-tls-fingerprint");
  cli::add_capture(app, s.capture);
  app.add_option(
         "--format", s.format,
         "ja3-jl (sessions) or psv (one line per hello: frame|src|sport|dst|dport|types|ja3|md5|ja3s|md5)")
      ->check(d4::core::cli::IsMember({"ja3-jl", "psv"}));
  app.add_option("-j,--json-dir", s.json_dir,
                 "write each session to <dir>/<Timestamp>.json instead of stdout");
  app.add_option("-w,--cert-dir", s.cert_dir, "write each certificate as DER to <dir>/<sha1>.crt");
  app.add_flag("--no-partial", s.no_partial, "do not emit sessions with only one hello at flow end");
  app.add_flag("--ja3-grease-quirk", s.ja3_quirk,
               "reproduce the reference sensor's trailing '-' after a final GREASE value");
  cli::add_queue(app, s.queue, "consume the type-1 analyzer queue with this UUID (pcap file paths)");
  app.add_option("--flow-timeout", s.flow_timeout, "seconds of capture time after which an idle flow ends");
  app.add_option("--max-flows", s.max_flows, "bound on concurrently tracked TCP flows (default 200000)");
  app.add_option("--tcp-max-memory", s.max_memory_mb,
                 "MiB that all TCP flows may hold together, held-back data included (default 256)");
  if (auto status = d4::core::cli::parse(app, argc, argv)) return *status;
  return run_tool("d4-tls-fingerprint", [&] {
    if (s.common.check_config) return tls::check_fingerprint_config(s);
    if (!s.capture.any() && s.queue.queue.empty()) {
      std::cerr << app.help() << std::endl
                << "d4-tls-fingerprint: give capture files, --interface or --queue" << std::endl;
      return d4::core::exit_status::kUsage;
    }
    return tls::run_fingerprint(s);
  });
}
