#include "sharing/misp_feed/feed_directory.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/digest.hpp"

namespace d4::sharing::misp {
namespace fs = std::filesystem;
namespace {

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

std::vector<std::string> value_hashes(const MispEvent& e) {
  std::vector<std::string> out;
  for (const auto& a : e.attributes) out.push_back(core::md5_hex(a.value));
  for (const auto& o : e.objects)
    for (const auto& a : o.attributes) out.push_back(core::md5_hex(a.value));
  return out;
}

void write_file_atomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw FeedError("cannot create " + tmp.string() + ": " + errno_text());
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw FeedError("cannot write " + tmp.string() + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  // On disk before the rename makes it visible: a crash leaves the old file or the new one.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw FeedError("cannot write " + tmp.string() + ": " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    throw FeedError("cannot rename " + tmp.string() + ": " + why);
  }
}

FeedDirectory::FeedDirectory(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw FeedError("cannot create " + dir_.string() + ": " + ec.message());
  fs::path lock = dir_ / ".lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw FeedError("cannot open " + lock.string() + ": " + errno_text());
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw FeedError("another export is writing " + dir_.string());
  }
  load_manifest();
  load_hashes();
}

FeedDirectory::~FeedDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

void FeedDirectory::load_manifest() {
  auto text = read_file(dir_ / "manifest.json");
  if (!text) return;
  auto m = nlohmann::ordered_json::parse(*text, nullptr, false);
  if (m.is_discarded() || !m.is_object())
    throw FeedError((dir_ / "manifest.json").string() +
                    " is not a JSON object; move it away to start a new feed");
  manifest_ = std::move(m);
}

void FeedDirectory::load_hashes() {
  auto text = read_file(dir_ / "hashes.csv");
  if (!text) return;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto comma = line.find(',');
    if (comma == std::string::npos)
      throw FeedError((dir_ / "hashes.csv").string() + ": line without a comma: " + line.substr(0, 80));
    hashes_[line.substr(comma + 1)].push_back(line.substr(0, comma));
  }
}

std::optional<PreviousEvent> FeedDirectory::previous(const std::string& event_uuid) const {
  auto text = read_file(dir_ / (event_uuid + ".json"));
  if (!text) return std::nullopt;
  auto p = read_previous_event(*text);
  if (p) p->text = std::move(*text);
  return p;
}

FeedDirectory::Outcome FeedDirectory::put(MispEvent& event, std::int64_t now, const PreviousEvent* previous) {
  stamp(event, previous, now);
  std::string text = to_feed_json(event).dump(1) + "\n";
  Outcome outcome = Outcome::Unchanged;
  if (!previous || previous->text != text) {
    write_file_atomically(dir_ / (event.uuid + ".json"), text);
    outcome = Outcome::Written;
  }
  auto entry = manifest_entry(event);
  if (!manifest_.contains(event.uuid) || manifest_[event.uuid] != entry) {
    manifest_[event.uuid] = std::move(entry);
    dirty_ = true;
  }
  auto hashes = value_hashes(event);
  auto& current = hashes_[event.uuid];
  if (current != hashes) {
    current = std::move(hashes);
    dirty_ = true;
  }
  return outcome;
}

void FeedDirectory::commit() {
  if (!dirty_ && fs::exists(dir_ / "manifest.json")) return;
  std::string csv;
  for (const auto& [uuid, list] : hashes_)
    for (const auto& h : list) csv += h + "," + uuid + "\n";
  write_file_atomically(dir_ / "hashes.csv", csv);
  write_file_atomically(dir_ / "manifest.json", manifest_.dump() + "\n");
  dirty_ = false;
}

}  // namespace d4::sharing::misp
