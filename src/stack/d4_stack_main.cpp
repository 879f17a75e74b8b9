// d4-stack: runs the whole D4 server stack on one machine with an embedded default.
// On first run it creates <data>/d4.toml, a self-signed certificate and a random default HMAC
// key; then it starts two redis-server instances (volatile stream buffer, persisted metadata),
// d4-server, d4-worker, d4-web and the analyzers (passive DNS, backscatter, passive SSL, each on
// its own analyzer queue), supervises them, prints where sensors and operators connect,
// and stops everything in order on SIGINT/SIGTERM.
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "analyzers/registry/descriptor.hpp"
#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/exit_codes.hpp"
#include "core/logging.hpp"
#include "core/privileges.hpp"
#include "core/redis_client.hpp"
#include "queues/queue_store.hpp"
#include "stack/first_run.hpp"
#include "stack/self_signed.hpp"
#include "stack/supervisor.hpp"

namespace fs = std::filesystem;
using namespace d4;

namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_hangup = 0;
void on_signal(int sig) {
  if (sig == SIGHUP)
    g_hangup = 1;
  else
    g_stop = 1;
}

// SIGHUP is passed on to the D4 components (d4-server reloads its configuration, the others check
// it and apply its log level); the Redis servers are left alone.
void pass_on_hangup(stack::Supervisor& sup) {
  auto names = sup.signal_running(SIGHUP, "d4-");
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  spdlog::info("SIGHUP: passed on to {}", list.empty() ? std::string("no running component") : list);
}

fs::path self_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : p.parent_path();
}

// Executables are looked up next to d4-stack first (the build tree or install prefix).
std::string exe(const std::string& name) {
  auto p = self_dir() / name;
  return fs::exists(p) ? p.string() : name;
}

// How a Redis instance keeps its data across restarts.
enum class Persistence {
  none,     // a buffer the workers drain (the reference's stream Redis)
  aof,      // append-only file, fsync every second: at most about a second of writes lost
  aof_rdb,  // the same plus RDB snapshots (metadata, users, analyzer queues)
};

stack::ChildSpec redis_child(const std::string& name, const core::RedisEndpoint& ep, const fs::path& dir,
                             Persistence persistence, const std::string& redis_server, const fs::path& logs) {
  fs::create_directories(dir);
  stack::ChildSpec c;
  c.name = name;
  c.argv = {redis_server,  "--port", std::to_string(ep.port), "--bind", ep.host,      "--dir", dir.string(),
            "--daemonize", "no",     "--protected-mode",      "yes",    "--loglevel", "notice"};
  switch (persistence) {
    case Persistence::aof_rdb:
      c.argv.insert(c.argv.end(), {"--appendonly", "yes", "--appendfsync", "everysec", "--save", "900 1",
                                   "--save", "60 1000"});
      break;
    case Persistence::aof:
      // No RDB snapshots: forking a copy of a large, fast-changing buffer costs more than it gives.
      c.argv.insert(c.argv.end(), {"--appendonly", "yes", "--appendfsync", "everysec", "--save", ""});
      break;
    case Persistence::none:
      c.argv.insert(c.argv.end(), {"--appendonly", "no", "--save", ""});
      break;
  }
  if (!ep.password.empty()) c.argv.insert(c.argv.end(), {"--requirepass", ep.password});
  c.log_file = logs / (name + ".log");
  c.ready = [ep] {
    core::RedisClient client(ep.with_db(0), {std::chrono::milliseconds(200), std::chrono::milliseconds(500)});
    return client.ping();
  };
  return c;
}

// Makes sure a queue named in the configuration exists, so that workers feed it from the first
// session on; an existing queue is left as the operator configured it. Returns its UUID, or ""
// when the configuration names none.
std::string ensure_queue(queues::QueueStore& store, const toml::table& root,
                         const analyzers::AnalyzerDescriptor& a, const analyzers::StackProcess& p) {
  std::string queue;
  if (auto* section = core::get_table(root, "analyzers"))
    if (auto* t = (*section)[a.section].as_table()) queue = (*t)[p.queue_key].value_or(std::string());
  if (queue.empty()) return queue;
  if (store.get(queue)) return queue;
  queues::QueueSpec spec;
  spec.target = p.target;
  spec.id = queue;
  spec.description = "d4-stack: " + p.name;
  spec.require_accepted_type = false;
  store.create(spec);
  spdlog::info("created analyzer queue {} ({}) for {}", queue, p.target.list_part(), p.name);
  return queue;
}

// Starts the processes of every analyzer listed in [stack] analyzers (the registry's order),
// creating the queues they consume first.
void start_analyzers(stack::Supervisor& sup, const toml::table& root, const core::CommonConfig& common,
                     const stack::StackSettings& settings, const fs::path& cfg_path, const fs::path& logs) {
  core::RedisClient queue_meta(common.redis.meta), queue_lists(common.redis.analyzer);
  queues::QueueStore queue_store(queue_meta, queue_lists, 10000, common.redis.layout);
  for (const auto& a : analyzers::analyzer_descriptors()) {
    if (std::find(settings.analyzers.begin(), settings.analyzers.end(), a.name) == settings.analyzers.end())
      continue;
    std::string path = exe(a.executable);
    if (!fs::exists(path)) {
      spdlog::warn("{} is not built; the {} analyzer is not started", a.executable, a.name);
      continue;
    }
    for (const auto& p : a.processes) {
      stack::ChildSpec c;
      c.name = p.name;
      c.argv = {path, "-c", cfg_path.string()};
      c.argv.insert(c.argv.end(), p.args.begin(), p.args.end());
      if (!p.queue_key.empty()) {
        std::string queue = ensure_queue(queue_store, root, a, p);
        if (queue.empty()) {
          if (p.required)
            throw core::ConfigError("analyzers." + a.section + "." + p.queue_key + " is needed to run " +
                                    a.name);
          continue;
        }
        if (p.queue_key != "queue") c.argv.insert(c.argv.end(), {"-u", queue});
      }
      if (!p.metrics_key.empty()) {
        std::string listen = core::get_string(root, "analyzers." + a.section, p.metrics_key, "");
        c.argv.insert(c.argv.end(), {"--metrics-listen", listen.empty() ? std::string("off") : listen});
      }
      c.log_file = logs / (c.name + ".log");
      c.ready = settings.readiness(c.name, common);
      sup.start(std::move(c));
    }
  }
}

struct StackOptions {
  std::string data_dir = "d4-data";
  std::string config_file;
  std::string redis_server = "redis-server";
  bool no_web = false, no_analyzers = false, init_only = false, check_only = false;
};

void add_options(d4::core::cli::App& app, StackOptions& o) {
  app.add_option("-d,--data-dir", o.data_dir,
                 "Data directory (configuration, certificates, Redis data, archives)")
      ->capture_default_str();
  app.add_option("-c,--config", o.config_file,
                 "Configuration file (default: <data-dir>/d4.toml, created on first run)");
  app.add_option("--redis-server", o.redis_server, "redis-server executable")->capture_default_str();
  app.add_flag("--no-web", o.no_web, "Do not start the web interface");
  app.add_flag("--no-analyzers", o.no_analyzers, "Do not start the analyzers listed in [stack] analyzers");
  app.add_flag("--init-only", o.init_only, "Create the data directory and configuration, then exit");
}

// Runs `argv` and returns its exit status (output inherited).
int run_and_wait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0)
    throw std::runtime_error("cannot run " + argv[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : core::exit_status::kRuntime;
}

// --check-config: the file as d4-stack reads it, then each component it would start checks it too.
int check_config(const StackOptions& o, const fs::path& cfg_path) {
  if (!fs::exists(cfg_path))
    throw core::ConfigError(
        cfg_path.string() +
        " does not exist (d4-stack creates it on first run; --init-only creates it only)");
  auto root = core::load_config(cfg_path);
  auto common = core::read_common_config(root, cfg_path.parent_path());
  auto settings = stack::read_stack_settings(root, cfg_path.parent_path());
  core::read_run_as(root);  // a missing user or group is d4-stack's configuration error too
  std::vector<std::string> components{"d4-server", "d4-worker"};
  if (!o.no_web && settings.start_web) components.push_back("d4-web");
  if (!o.no_analyzers)
    for (const auto& a : analyzers::analyzer_descriptors())
      if (std::find(settings.analyzers.begin(), settings.analyzers.end(), a.name) != settings.analyzers.end())
        components.push_back(a.executable);
  int worst = core::exit_status::kOk;
  for (const auto& name : components) {
    std::string path = exe(name);
    if (!fs::exists(path)) continue;  // not built: not started either
    int status = run_and_wait({path, "--config", cfg_path.string(), "--check-config"});
    if (status != core::exit_status::kOk) worst = status;
  }
  if (worst == core::exit_status::kOk) core::cli::print_config_ok("d4-stack", cfg_path.string());
  return worst;
}

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Started as root with [general] user set, d4-stack gives the data directory to that user and
// becomes it before starting anything: every component, Redis included, then runs as the user
// (their own drop finds it done), and everything they write stays theirs. The whole tree is
// walked, changing only what the user does not own yet (a data directory first made by root).
void become_configured_user(const core::RunAs& run_as, const fs::path& data) {
  if (geteuid() == 0 && run_as.uid && *run_as.uid != 0) {
    const uid_t uid = *run_as.uid;
    const gid_t gid = run_as.gid.value_or(static_cast<gid_t>(-1));
    std::size_t changed = 0;
    auto give = [&](const fs::path& p) {
      struct stat st {};
      if (lstat(p.c_str(), &st) != 0 || st.st_uid == uid) return;
      if (lchown(p.c_str(), uid, gid) != 0)
        throw std::runtime_error("cannot give " + p.string() + " to user " + run_as.user + ": " +
                                 std::strerror(errno));
      ++changed;
    };
    give(data);
    for (const auto& entry : fs::recursive_directory_iterator(data)) give(entry.path());
    if (changed) spdlog::info("{} entries of {} given to user {}", changed, data.string(), run_as.user);
  }
  core::drop_privileges("d4-stack", run_as);
}

// Starts everything the configuration asks for, then supervises until SIGINT/SIGTERM.
int run_stack(const StackOptions& o, const fs::path& data, const fs::path& cfg_path,
              const stack::FirstRun& first, stack::Supervisor& sup) {
  auto root = core::load_config(cfg_path);
  auto common = core::read_common_config(root, cfg_path.parent_path());
  auto settings = stack::read_stack_settings(root, cfg_path.parent_path());
  become_configured_user(core::read_run_as(root), data);
  fs::path logs = data / "logs";
  fs::create_directories(logs);
  sup.set_log_rotation(settings.log_rotation);

  if (settings.start_redis) {
    // The Redis servers d4-stack starts are plain ones on the endpoints' host and port; a TLS,
    // Sentinel or ACL-user endpoint means Redis is run elsewhere.
    for (const auto* ep : {&common.redis.stream, &common.redis.meta})
      if (ep->tls.enabled || ep->uses_sentinel() || !ep->unix_socket.empty() || !ep->username.empty())
        throw core::ConfigError(
            core::where_set(root, "stack", "start_redis") +
            "d4-stack starts plain Redis servers (host:port, a password at most), but [redis] "
            "names " +
            ep->to_string() +
            " (TLS, Sentinel, unix socket or an ACL user): set [stack] start_redis = false and "
            "run that Redis yourself");
    // The stream buffer is volatile like the reference's unless durable_stream is set.
    sup.start(redis_child("redis-stream", common.redis.stream, data / "redis" / "stream",
                          settings.durable_stream ? Persistence::aof : Persistence::none, o.redis_server,
                          logs));
    if (common.redis.meta.port != common.redis.stream.port ||
        common.redis.meta.host != common.redis.stream.host)
      sup.start(redis_child("redis-meta", common.redis.meta, data / "redis" / "meta", Persistence::aof_rdb,
                            o.redis_server, logs));
  }
  auto component = [&](const std::string& name, bool required) {
    std::string path = exe(name);
    if (!required && !fs::exists(path)) {
      spdlog::warn("{} is not built; skipping it", name);
      return;
    }
    stack::ChildSpec c;
    c.name = name;
    c.argv = {path, "--config", cfg_path.string()};
    c.log_file = logs / (name + ".log");
    c.ready = settings.readiness(name, common);
    sup.start(std::move(c));
  };
  component("d4-server", true);
  component("d4-worker", false);
  if (!o.no_web && settings.start_web) component("d4-web", false);
  if (!o.no_analyzers && !settings.analyzers.empty())
    start_analyzers(sup, root, common, settings, cfg_path, logs);

  stack::print_summary(std::cout, data, cfg_path, root, common, settings, first);

  while (!g_stop) {
    sup.poll();
    if (g_hangup) {
      g_hangup = 0;
      pass_on_hangup(sup);
    }
    usleep(200 * 1000);
  }
  spdlog::info("received a stop signal: stopping the D4 stack");
  return core::exit_status::kOk;
}

}  // namespace

int main(int argc, char** argv) {
  d4::core::cli::App app{
      "d4-stack: run the whole D4 server stack (Redis, ingest server, workers, web UI) with an embedded "
      "default configuration"};
  StackOptions o;
  add_options(app, o);
  core::cli::add_standard_flags(app, "d4-stack", &o.check_only);
  if (auto status = core::cli::parse(app, argc, argv)) return *status;

  // From the start: a SIGTERM while the components start stops them once started (instead of
  // leaving them running), a SIGHUP is passed on once they run.
  install_stop_signals();
  core::init_logging("d4-stack", {});
  stack::Supervisor sup;
  int status = core::cli::run("d4-stack", [&] {
    fs::path data = fs::absolute(o.data_dir);
    fs::path cfg_path = o.config_file.empty() ? data / "d4.toml" : fs::absolute(o.config_file);
    if (o.check_only) return check_config(o, cfg_path);
    auto first = stack::prepare_data_dir(data, cfg_path);
    if (o.init_only) {
      std::cout << "configuration written to " << cfg_path << "\n";
      return core::exit_status::kOk;
    }
    return run_stack(o, data, cfg_path, first, sup);
  });
  sup.stop_all();  // whatever ended the run
  return status;
}
