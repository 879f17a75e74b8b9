#pragma once
// Compression of closed archive files on background threads, so that the session threads keep
// draining streams. Results go back to the submitting thread's inbox; the owner then commits the
// queue push of the compressed file together with its progress.
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "workers/archive.hpp"

namespace d4::workers {

struct CompressionResult {
  std::string session;
  std::filesystem::path source;
  std::filesystem::path result;  // compressed file (or source when compression is off)
  std::string error;             // empty on success
};

class CompressionInbox {
 public:
  void put(CompressionResult r) {
    std::lock_guard lk(mu_);
    results_.push_back(std::move(r));
  }
  std::vector<CompressionResult> take() {
    std::lock_guard lk(mu_);
    std::vector<CompressionResult> out(std::make_move_iterator(results_.begin()),
                                       std::make_move_iterator(results_.end()));
    results_.clear();
    return out;
  }

 private:
  std::mutex mu_;
  std::deque<CompressionResult> results_;
};

class Compressor {
 public:
  Compressor(Compression c, int level, int threads);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  void submit(std::string session, std::filesystem::path file, std::shared_ptr<CompressionInbox> inbox);
  std::size_t backlog();

 private:
  struct Job {
    std::string session;
    std::filesystem::path file;
    std::shared_ptr<CompressionInbox> inbox;
  };
  void loop();

  Compression compression_;
  int level_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace d4::workers
