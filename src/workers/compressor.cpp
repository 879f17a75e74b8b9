#include "workers/compressor.hpp"

namespace d4::workers {

Compressor::Compressor(Compression c, int level, int threads) : compression_(c), level_(level) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { loop(); });
}

Compressor::~Compressor() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Compressor::submit(std::string session, std::filesystem::path file,
                        std::shared_ptr<CompressionInbox> inbox) {
  {
    std::lock_guard lk(mu_);
    jobs_.push_back({std::move(session), std::move(file), std::move(inbox)});
  }
  cv_.notify_one();
}

std::size_t Compressor::backlog() {
  std::lock_guard lk(mu_);
  return jobs_.size();
}

void Compressor::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
      // Pending jobs are abandoned at shutdown: they are recorded in the session progress and
      // redone by whichever worker owns the session next.
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    CompressionResult r{job.session, job.file, {}, {}};
    try {
      r.result = compress_file(job.file, compression_, level_);
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    job.inbox->put(std::move(r));
  }
}

}  // namespace d4::workers
