// Folder watcher (the Go client's "folder" source): every file written into the folder (or any
// subfolder) is sent whole once it is closed after writing (or moved in), followed by one "\n"
// separator. With -json the bytes are sent as they are; otherwise the file is base64-encoded
// (standard alphabet, padded) so that the separator is unambiguous. With -daily the watched folder
// is FOLDER/YYYYMMDD (local date), re-targeted when the date changes.
//
// With --folder-existing the files already in the folder are sent first (oldest first, or in
// name order), then new ones as above; a state file (client/folder_state.hpp) records each file
// once the destination acknowledged its last byte, so that a restart sends only what was not
// delivered. Each file's end is an offset in the byte stream handed to the reader; the
// destination counts the payload bytes it delivered (Stats::payload_delivered, in stream order),
// and a file is recorded once that count passes its end.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <vector>

#include "client/folder_state.hpp"
#include "client/log.hpp"
#include "client/source.hpp"
#include "protocol/encoding.hpp"

namespace d4::client {

namespace {

constexpr std::size_t kBase64Block = 3072;  // encodes to 4096 characters

std::string today_folder(const std::string& root) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char d[16];
  std::strftime(d, sizeof d, "%Y%m%d", &tm);
  return root + "/" + d;
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

struct FoundFile {
  std::string path;
  std::int64_t mtime_ns;
};

// Regular files under dir, recursively.
void collect_files(const std::string& dir, std::vector<FoundFile>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string p = dir + "/" + name;
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      collect_files(p, out);
    else if (S_ISREG(st.st_mode))
      out.push_back({p, mtime_ns(st)});
  }
  ::closedir(d);
}

class FolderSource final : public Source {
 public:
  FolderSource(const Settings& s, int stop_fd, const std::atomic<std::uint64_t>* delivered)
      : root_(s.folder),
        json_(s.folder_json),
        daily_(s.folder_daily),
        by_name_(s.folder_order == FolderOrder::Name),
        stop_fd_(stop_fd),
        delivered_(delivered) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    if (!is_dir(root_)) throw UsageError("folder source: " + root_ + " is not a directory");
    if (s.folder_existing) {
      if (!delivered_)
        throw UsageError("folder source: --folder-existing needs the destination's delivery count");
      state_ = std::make_unique<FolderState>(s.folder_state);
    }
    inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_ < 0) throw UsageError(std::string("folder source: inotify: ") + std::strerror(errno));
    retarget();
    if (state_ && !state_->compact([this](const FolderFileId& id) { return still_current(id); }))
      throw UsageError("folder source: cannot write the state file " + state_->file());
  }
  ~FolderSource() override {
    if (file_fd_ >= 0) ::close(file_fd_);
    if (inotify_ >= 0) ::close(inotify_);
  }

  ReadResult read(std::span<std::uint8_t> buf, int timeout_ms) override {
    auto start = std::chrono::steady_clock::now();
    for (;;) {
      record_deliveries();
      if (out_off_ < out_.size()) {
        std::size_t n = std::min(buf.size(), out_.size() - out_off_);
        std::memcpy(buf.data(), out_.data() + out_off_, n);
        out_off_ += n;
        handed_out_ += n;
        return {ReadStatus::Data, n, {}};
      }
      out_.clear();
      out_off_ = 0;
      if (file_fd_ >= 0) {
        produce_from_file();
        continue;
      }
      drain_events();
      if (!queue_.empty()) {
        open_next();
        continue;
      }
      if (daily_ && today_folder(root_) != watched_) retarget();
      // While sent files wait for their acknowledgement, come back sooner to record them.
      int wait = in_transit_.empty() ? 1000 : 100;
      if (timeout_ms >= 0) {
        auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        if (elapsed.count() >= timeout_ms) return {ReadStatus::Timeout, 0, {}};
        wait = std::min<int>(wait, timeout_ms - static_cast<int>(elapsed.count()));
      }
      bool stopped = false;
      wait_readable(inotify_, stop_fd_, wait, &stopped);
      if (stopped) return {ReadStatus::Interrupted, 0, {}};
    }
  }

  std::string describe() const override { return "folder " + root_; }

  // At exit, after the destination is done: record what it acknowledged meanwhile.
  void log_summary() override {
    if (!state_) return;
    record_deliveries();
    log_info("folder source: " + std::to_string(files_sent_) + " files sent, " +
             std::to_string(files_recorded_) + " recorded as delivered in " + state_->file() +
             (in_transit_.empty() ? ""
                                  : "; " + std::to_string(in_transit_.size()) +
                                        " not acknowledged (sent again by the next run)"));
  }

 private:
  // A file handed out whole; recorded in the state file once the destination delivered `end`.
  struct InTransit {
    std::uint64_t end;
    FolderFileId id;
  };

  std::string relative(const std::string& path) const { return path.substr(root_.size() + 1); }

  // A state entry is kept while its file is still there, unchanged, in the watched folder.
  bool still_current(const FolderFileId& id) const {
    std::string prefix = watched_.size() > root_.size() ? watched_.substr(root_.size() + 1) + "/" : "";
    if (id.path.compare(0, prefix.size(), prefix) != 0) return false;
    struct stat st {};
    std::string p = root_ + "/" + id.path;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && mtime_ns(st) == id.mtime_ns &&
           static_cast<std::uint64_t>(st.st_size) == id.size;
  }

  void record_deliveries() {
    if (in_transit_.empty()) return;
    std::uint64_t d = delivered_->load(std::memory_order_acquire);
    while (!in_transit_.empty() && in_transit_.front().end <= d) {
      state_->record(in_transit_.front().id);
      in_transit_.pop_front();
      ++files_recorded_;
    }
  }

  // The files already in the watched folder that were not delivered, in the configured order.
  void enqueue_existing() {
    std::vector<FoundFile> found;
    collect_files(watched_, found);
    std::sort(found.begin(), found.end(), [this](const FoundFile& a, const FoundFile& b) {
      if (by_name_ || a.mtime_ns == b.mtime_ns) return a.path < b.path;
      return a.mtime_ns < b.mtime_ns;
    });
    std::size_t queued = 0;
    for (auto& f : found) {
      struct stat st {};
      if (::stat(f.path.c_str(), &st) != 0) continue;
      if (state_->delivered({relative(f.path), mtime_ns(st), static_cast<std::uint64_t>(st.st_size)}))
        continue;
      queue_.push_back(std::move(f.path));
      ++queued;
    }
    log_info("folder source: " + std::to_string(queued) + " of " + std::to_string(found.size()) +
             " files already in " + watched_ + " to send (" + std::to_string(found.size() - queued) +
             " delivered before, per " + state_->file() + ")");
  }

  void retarget() {
    for (auto& [wd, path] : watches_) ::inotify_rm_watch(inotify_, wd);
    watches_.clear();
    std::string target = daily_ ? today_folder(root_) : root_;
    watched_ = target;
    if (!is_dir(target)) {
      if (!missing_logged_) log_warn("folder source: waiting for " + target + " to exist");
      missing_logged_ = true;
      watched_ = "";  // retried every second
      return;
    }
    missing_logged_ = false;
    add_tree(target, false);
    log_info("watching " + target + (json_ ? " (files sent raw)" : " (files sent base64-encoded)"));
    if (state_) {
      // A new day's folder: the previous one's entries are no longer needed.
      if (files_sent_ > 0) state_->compact([this](const FolderFileId& id) { return still_current(id); });
      enqueue_existing();
    }
  }

  // Watches dir and its subfolders; with enqueue_existing, files already there are queued (a
  // folder moved or created with content before its watch existed).
  void add_tree(const std::string& dir, bool enqueue_existing) {
    int wd = ::inotify_add_watch(inotify_, dir.c_str(),
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR | IN_DELETE_SELF);
    if (wd < 0) {
      log_warn("folder source: cannot watch " + dir + ": " + std::strerror(errno));
      return;
    }
    watches_[wd] = dir;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    std::vector<std::string> files;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string p = dir + "/" + name;
      if (is_dir(p))
        add_tree(p, enqueue_existing);
      else if (enqueue_existing)
        files.push_back(p);
    }
    ::closedir(d);
    std::sort(files.begin(), files.end());
    for (auto& f : files) queue_.push_back(f);
  }

  void drain_events() {
    alignas(inotify_event) char buf[16384];
    for (;;) {
      ssize_t n = ::read(inotify_, buf, sizeof buf);
      if (n <= 0) return;
      for (char* p = buf; p < buf + n;) {
        // Copied rather than cast (-Wcast-align on strict-alignment CPUs); the name follows it.
        inotify_event header{};
        std::memcpy(&header, p, sizeof header);
        const inotify_event* ev = &header;
        const char* name = p + sizeof(inotify_event);
        p += sizeof(inotify_event) + ev->len;
        if (ev->mask & IN_Q_OVERFLOW) {
          log_warn("folder source: inotify queue overflow, some files may have been missed");
          continue;
        }
        auto it = watches_.find(ev->wd);
        if (it == watches_.end()) continue;
        if (ev->mask & IN_DELETE_SELF) {
          watches_.erase(it);
          continue;
        }
        if (ev->len == 0) continue;
        std::string path = it->second + "/" + std::string(name, strnlen(name, ev->len));
        if (ev->mask & IN_ISDIR) {
          if (ev->mask & (IN_CREATE | IN_MOVED_TO)) add_tree(path, true);
        } else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
          queue_.push_back(path);
        }
      }
    }
  }

  void open_next() {
    std::string path = queue_.front();
    queue_.pop_front();
    file_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (file_fd_ < 0) {
      log_warn("folder source: cannot open " + path + ": " + std::strerror(errno));
      return;
    }
    current_ = path;
    if (state_) {
      struct stat st {};
      if (::fstat(file_fd_, &st) != 0) st = {};
      current_id_ = {relative(path), mtime_ns(st), static_cast<std::uint64_t>(st.st_size)};
      // The same version of a file can be queued twice (found by the start-up scan and announced
      // by inotify, or closed twice without a change): send it once.
      bool in_transit = std::any_of(in_transit_.begin(), in_transit_.end(),
                                    [&](const InTransit& t) { return t.id == current_id_; });
      if (in_transit || state_->delivered(current_id_)) {
        log_debug("folder source: " + path + " already sent");
        ::close(file_fd_);
        file_fd_ = -1;
        return;
      }
      read_failed_ = false;
    }
    log_debug("folder source: sending " + path);
  }

  void produce_from_file() {
    std::size_t want = json_ ? 65536 : kBase64Block;
    std::vector<std::uint8_t> tmp(want);
    std::size_t got = 0;
    while (got < want) {
      ssize_t n = ::read(file_fd_, tmp.data() + got, want - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        log_warn("folder source: read " + current_ + ": " + std::strerror(errno));
        read_failed_ = true;
        break;
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
      if (json_) break;
    }
    if (got > 0) {
      if (json_)
        out_.assign(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(got));
      else {
        std::string enc = protocol::base64_encode(std::span<const std::uint8_t>(tmp.data(), got));
        out_.assign(enc.begin(), enc.end());
      }
    }
    if (got < want && !(json_ && got > 0)) {
      // End of the file: the separator, then the next file.
      out_.push_back('\n');
      ::close(file_fd_);
      file_fd_ = -1;
      ++files_sent_;
      // A file that could not be read whole is not recorded: the next run sends it again.
      if (state_ && !read_failed_) in_transit_.push_back({handed_out_ + out_.size(), current_id_});
    }
  }

  std::string root_;
  bool json_;
  bool daily_;
  bool by_name_;
  int stop_fd_;
  const std::atomic<std::uint64_t>* delivered_;
  std::unique_ptr<FolderState> state_;  // with --folder-existing
  std::deque<InTransit> in_transit_;    // sent, not yet acknowledged, in stream order
  std::uint64_t handed_out_ = 0;        // bytes returned by read() so far
  FolderFileId current_id_;
  bool read_failed_ = false;
  std::uint64_t files_sent_ = 0;
  std::uint64_t files_recorded_ = 0;
  int inotify_ = -1;
  std::map<int, std::string> watches_;
  std::string watched_;
  bool missing_logged_ = false;
  std::deque<std::string> queue_;
  int file_fd_ = -1;
  std::string current_;
  std::vector<std::uint8_t> out_;
  std::size_t out_off_ = 0;
};

}  // namespace

std::unique_ptr<Source> make_folder_source(const Settings& settings, int stop_fd,
                                           const std::atomic<std::uint64_t>* delivered) {
  return std::make_unique<FolderSource>(settings, stop_fd, delivered);
}

}  // namespace d4::client
