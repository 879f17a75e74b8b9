#include "ops/executables.hpp"

namespace d4::test::ops {

const std::vector<Executable>& executables() {
  static const std::vector<Executable> all = {
      {"d4-server"},     {"d4-worker"},    {"d4-web"},    {"d4-stack"},           {"d4-admin"},
      {"d4-queue"},      {"d4-export"},    {"d4-pdns"},   {"d4-tls-fingerprint"}, {"d4-pibs"},
      {"d4-passivessl"}, {"d4-misp-feed"}, {"d4-alerts"}, {"d4-client", false},
  };
  return all;
}

RunResult run(const std::string& name, const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env, std::chrono::milliseconds timeout) {
  TempDir dir;
  Process::Options o;
  o.stdout_file = dir / "out";
  o.stderr_file = dir / "err";
  o.env = env;
  std::vector<std::string> argv{(bin_dir() / name).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv, o);
  RunResult r;
  r.status = p.wait(timeout);
  if (r.status == -1) r.status = p.stop(std::chrono::milliseconds(1000)) + 1000;  // visible as a failure
  r.out = read_text(dir / "out");
  r.err = read_text(dir / "err");
  return r;
}

}  // namespace d4::test::ops
