#include "client/folder_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>

#include "client/config_dir.hpp"
#include "client/log.hpp"
#include "client/options.hpp"
#include "protocol/clock.hpp"

namespace d4::client {
namespace {

constexpr std::string_view kMagic = "d4-client folder state 1";
constexpr std::size_t kMaxStateFile = 1ULL << 30;
constexpr std::size_t kCompactSlack = 1024;

std::string escape_path(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  for (char c : p) {
    if (c == '%')
      out += "%25";
    else if (c == '\n')
      out += "%0A";
    else if (c == '\r')
      out += "%0D";
    else
      out += c;
  }
  return out;
}

std::optional<std::string> unescape_path(std::string_view p) {
  std::string out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '%') {
      out += p[i];
      continue;
    }
    std::string_view code = p.substr(i + 1, 2);
    if (code == "25")
      out += '%';
    else if (code == "0A")
      out += '\n';
    else if (code == "0D")
      out += '\r';
    else
      return std::nullopt;
    i += 2;
  }
  return out;
}

std::string entry_line(const FolderFileId& id) {
  return std::to_string(id.mtime_ns) + " " + std::to_string(id.size) + " " + escape_path(id.path) + "\n";
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

// "<mtime_ns> <size> <path>"; nullopt when malformed.
std::optional<FolderFileId> parse_entry(std::string_view line) {
  auto s1 = line.find(' ');
  if (s1 == std::string_view::npos) return std::nullopt;
  auto s2 = line.find(' ', s1 + 1);
  if (s2 == std::string_view::npos || s2 + 1 >= line.size()) return std::nullopt;
  FolderFileId id;
  if (!parse_number(line.substr(0, s1), id.mtime_ns) ||
      !parse_number(line.substr(s1 + 1, s2 - s1 - 1), id.size))
    return std::nullopt;
  auto path = unescape_path(line.substr(s2 + 1));
  if (!path) return std::nullopt;
  id.path = std::move(*path);
  return id;
}

}  // namespace

FolderState::FolderState(std::string file) : file_(std::move(file)) {
  if (::access(file_.c_str(), F_OK) != 0) return;  // first run
  std::string text = read_whole_file(file_, kMaxStateFile);
  std::size_t pos = 0, line_no = 0, bad = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();  // a last line cut by a crash
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line_no++ == 0) {
      if (line != kMagic) throw UsageError(file_ + " is not a d4-client folder state file");
      continue;
    }
    if (auto id = parse_entry(line)) {
      entries_[id->path] = std::move(*id);
      ++appended_;
    } else {
      ++bad;
    }
  }
  if (bad > 0)
    log_warn(file_ + ": " + std::to_string(bad) + " unreadable entries ignored (their files are sent again)");
}

FolderState::~FolderState() {
  if (fd_ >= 0) {
    sync_if_due(true);
    ::close(fd_);
  }
}

bool FolderState::delivered(const FolderFileId& id) const {
  auto it = entries_.find(id.path);
  return it != entries_.end() && it->second == id;
}

void FolderState::open_for_append() {
  if (fd_ >= 0) return;
  if (::access(file_.c_str(), F_OK) != 0) write_file_atomically(file_, std::string(kMagic) + "\n", 0600);
  fd_ = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) throw UsageError("cannot open " + file_ + ": " + std::strerror(errno));
}

void FolderState::sync_if_due(bool force) {
  if (fd_ < 0 || !dirty_) return;
  auto now = clock::monotonic_millis();
  if (!force && now - last_sync_ms_ < 1000) return;
  ::fdatasync(fd_);
  last_sync_ms_ = now;
  dirty_ = false;
}

void FolderState::record(const FolderFileId& id) {
  entries_[id.path] = id;
  try {
    open_for_append();
  } catch (const UsageError& e) {
    log_error(std::string(e.what()) + ": " + id.path + " would be sent again after a restart");
    return;
  }
  std::string line = entry_line(id);
  // One write(2): the line is complete in the file even if the process is killed right after.
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    log_error("cannot append to " + file_ + ": " + std::strerror(errno) + "; " + id.path +
              " would be sent again after a restart");
    return;
  }
  ++appended_;
  dirty_ = true;
  sync_if_due(false);
  if (appended_ > 2 * entries_.size() + kCompactSlack) compact([](const FolderFileId&) { return true; });
}

bool FolderState::compact(const std::function<bool(const FolderFileId&)>& keep) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (keep(it->second))
      ++it;
    else
      it = entries_.erase(it);
  }
  std::string text = std::string(kMagic) + "\n";
  for (const auto& [path, id] : entries_) text += entry_line(id);
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  try {
    write_file_atomically(file_, text, 0600);
    appended_ = entries_.size();
    return true;
  } catch (const UsageError& e) {
    log_error(e.what());
    return false;
  }
}

}  // namespace d4::client
