// d4-client: the D4 sensor client. See docs/client.md. This file parses the command line and the
// configuration; client/run.cpp runs the client.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "client/config.hpp"
#include "client/log.hpp"
#include "client/options.hpp"
#include "client/run.hpp"
#include "core/exit_codes.hpp"

using namespace d4::client;

namespace {

void write_stdout(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // SIGHUP waits for the signal thread (it has nothing to reload): never fatal, even at start-up.
  sigset_t hangup;
  sigemptyset(&hangup);
  sigaddset(&hangup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hangup, nullptr);
  Settings s;
  try {
    CommandLine cl = parse_command_line(argc, argv);
    if (cl.help) {
      write_stdout(help_text());
      return 0;
    }
    if (cl.show_version) {
      write_stdout(std::string(client_version()) + "\n");
      return 0;
    }
    s = resolve_settings(cl);
    if (cl.check_config) {
      write_stdout("d4-client: configuration OK (" + (s.config_dir.empty() ? "command line" : s.config_dir) +
                   ")\n");
      return d4::core::exit_status::kOk;
    }
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "d4-client: configuration error: %s\n", e.what());
    return d4::core::exit_status::kConfig;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "d4-client: %s\n", e.what());
    return d4::core::exit_status::kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "d4-client: %s\n", e.what());
    return d4::core::exit_status::kRuntime;
  }
  set_log_level(s.log_level);
  if (s.uuid_generated)
    log_info("generated sensor UUID " + s.uuid.dashed() + ", saved in " + s.config_dir + "/uuid");
  return run(s);
}
