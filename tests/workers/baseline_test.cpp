// Trace + baseline regression tests of d4-worker's quirks: each folder of
// tests/data/worker-baselines holds one quirk. Its `case` file says what the quirk is and why
// (comment lines), the session's type, optional settings, and the stream entries to feed, in order;
// `expected` is the trace the session handler must produce, byte for byte: after each entry and at
// the end of the session, the queue items, rejects, fatal errors and closed archives, then every
// file written under the archive root with its content.
//
// The handler is the real one (workers/handlers/registry.hpp) writing real files in a scratch
// archive root, at a fixed time (UTC paths) and for a fixed sensor, so that the trace is stable.
//
// `case` lines:
//   type N                         the session's D4 type
//   max_record_bytes N             a WorkerSettings limit (also max_pcap_snaplen)
//   entry STREAM text "..."        one stream entry; C escapes \n \r \t \\ \" \xHH
//   entry STREAM hex HEX...        one stream entry given in hex (binary data)
//   end                            the session ends (on_end)
//
// With D4_UPDATE_BASELINES=1 the expected files are rewritten instead of compared:
//   cmake --build build --target update-worker-baselines && git diff tests/data/worker-baselines
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/digest.hpp"
#include "support/process.hpp"
#include "workers/handlers/registry.hpp"

namespace fs = std::filesystem;

namespace {

fs::path worker_baselines_dir() {
  return fs::path(D4_TEST_DATA_DIR) / "worker-baselines";
}

std::vector<std::string> worker_cases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(worker_baselines_dir()))
    if (e.is_directory() && fs::exists(e.path() / "case")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// "..." with C escapes, as written in a case file.
std::string unescape(std::string_view quoted) {
  if (quoted.size() < 2 || quoted.front() != '"' || quoted.back() != '"')
    throw std::runtime_error("text entries are quoted: " + std::string(quoted));
  std::string out;
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    char c = quoted[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = quoted[++i];
    if (e == 'n')
      out += '\n';
    else if (e == 'r')
      out += '\r';
    else if (e == 't')
      out += '\t';
    else if (e == 'x') {
      out += static_cast<char>(std::stoi(std::string(quoted.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else
      out += e;
  }
  return out;
}

std::string unhex(std::string_view hex) {
  std::string out;
  std::string digits;
  for (char c : hex)
    if (!std::isspace(static_cast<unsigned char>(c))) digits += c;
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2)
    out += static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16));
  return out;
}

// Bytes as the trace shows them: printable ASCII as is, the rest escaped.
std::string shown(std::string_view bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '"' || c == '\\')
      out += std::string("\\") + static_cast<char>(c);
    else if (c >= 0x20 && c < 0x7f)
      out += static_cast<char>(c);
    else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out + "\"";
}

// The runner's services, fixed: one sensor, one session, one instant, every extended type accepted.
class TraceContext : public d4::workers::SessionContext {
 public:
  TraceContext(const d4::workers::WorkerSettings& s, std::ostringstream& trace)
      : settings_(s), trace_(trace) {}
  const d4::workers::WorkerSettings& settings() const override { return settings_; }
  const std::string& session() const override { return session_; }
  const std::string& sensor() const override { return sensor_; }
  std::time_t now() const override { return 1700000000; }  // 2023-11-14 22:13:20 UTC
  bool is_accepted_extended_type(const std::string&) override { return true; }
  void record_extended_type(const std::string& ext, const std::string& meta) override {
    trace_ << "  extended type " << ext << ", meta header " << meta << "\n";
  }

 private:
  const d4::workers::WorkerSettings& settings_;
  std::ostringstream& trace_;
  std::string session_ = "trace-session", sensor_ = "5f6e8a434d2c4b719a550c1d2e3f4a5b";
};

class WorkerTrace {
 public:
  explicit WorkerTrace(const fs::path& root) : root_(root) {}

  void output(const d4::workers::BatchOutput& out) {
    for (const auto& [target, items] : out.items)
      for (const auto& item : items) trace_ << "  item " << target << " " << shown(relative(item)) << "\n";
    for (const auto& r : out.rejects) trace_ << "  reject " << r.reason << ": " << r.detail << "\n";
    if (out.fatal) trace_ << "  fatal " << out.fatal->reason << ": " << out.fatal->detail << "\n";
    for (const auto& f : out.closed_files) trace_ << "  closed " << fs::relative(f, root_).string() << "\n";
  }

  // Every file under the archive root, in name order, with its content (or its digest when large).
  void files() {
    std::vector<fs::path> paths;
    if (fs::exists(root_))
      for (const auto& e : fs::recursive_directory_iterator(root_))
        if (e.is_regular_file()) paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());
    trace_ << "files:\n";
    for (const auto& p : paths) {
      std::string content = d4::test::read_text(p);
      trace_ << "  " << fs::relative(p, root_).string() << " (" << content.size() << " bytes): "
             << (content.size() <= 512 ? shown(content) : "sha256 " + d4::core::sha256_hex(content)) << "\n";
    }
  }

  std::ostringstream& stream() { return trace_; }

 private:
  std::string relative(const std::string& item) const {
    const std::string root = root_.string() + "/";
    return item.rfind(root, 0) == 0 ? "{archive}/" + item.substr(root.size()) : item;
  }
  fs::path root_;
  std::ostringstream trace_;
};

std::string run_case(const fs::path& dir, const fs::path& root) {
  d4::workers::WorkerSettings settings;
  settings.archive_root = root;
  settings.utc_paths = true;
  settings.compression = d4::workers::Compression::None;
  WorkerTrace trace(root);
  TraceContext ctx(settings, trace.stream());
  std::unique_ptr<d4::workers::SessionHandler> handler;
  std::istringstream in(d4::test::read_text(dir / "case"));
  int entries = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string word;
    words >> word;
    if (word == "type") {
      int type = 0;
      words >> type;
      handler = d4::workers::make_session_handler(static_cast<d4::protocol::PacketType>(type), settings);
      if (!handler) throw std::runtime_error("no handler for type " + std::to_string(type));
      trace.stream() << "session of type " << type << "\n";
    } else if (word == "max_record_bytes") {
      words >> settings.max_record_bytes;
      settings.max_pcap_snaplen = static_cast<std::uint32_t>(settings.max_record_bytes);
    } else if (word == "entry") {
      int stream = 0;
      std::string kind, rest;
      words >> stream >> kind;
      std::getline(words >> std::ws, rest);
      std::string payload = kind == "hex" ? unhex(rest) : unescape(rest);
      d4::workers::BatchOutput out;
      handler->on_entry(stream, payload, ctx, out);
      trace.stream() << "entry " << ++entries << " (stream " << stream << ", " << payload.size()
                     << " bytes):\n";
      trace.output(out);
    } else if (word == "end") {
      d4::workers::BatchOutput out;
      handler->on_end(ctx, out);
      trace.stream() << "end:\n";
      trace.output(out);
    } else {
      throw std::runtime_error("unknown case line: " + line);
    }
  }
  trace.files();
  return trace.stream().str();
}

class WorkerBaselines : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(WorkerBaselines, TraceEqualsTheBaseline) {
  const fs::path dir = worker_baselines_dir() / GetParam();
  d4::test::TempDir tmp;
  const std::string trace = run_case(dir, tmp / "archive");
  const char* update = std::getenv("D4_UPDATE_BASELINES");
  if (update && std::string(update) == "1") {
    std::ofstream(dir / "expected", std::ios::binary) << trace;
    return;
  }
  ASSERT_TRUE(fs::exists(dir / "expected")) << "no baseline yet: run the update-worker-baselines target";
  EXPECT_EQ(trace, d4::test::read_text(dir / "expected"))
      << "the trace of " << GetParam() << " changed: if on purpose, update the baselines";
}

INSTANTIATE_TEST_SUITE_P(Quirks, WorkerBaselines, ::testing::ValuesIn(worker_cases()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string n = param.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });
