// stdout (or "-"): each element written to standard output.
#include "queues/export/sink_io.hpp"

#include <unistd.h>

#include <cstdio>

namespace d4::queues {
namespace {

using namespace sink_io;

class StdoutSink : public Sink {
 public:
  explicit StdoutSink(SinkOptions o) : o_(std::move(o)) {}
  void connect() override {}
  void send(std::string_view e) override {
    auto p = payload(e, o_);
    if (std::fwrite(p.data(), 1, p.size(), stdout) != p.size()) throw SinkError("stdout write failed");
    count_sent(p.size());
  }
  void flush() override {
    if (std::fflush(stdout) != 0) throw SinkError("stdout flush failed");
  }
  void close() override { std::fflush(stdout); }
  std::string describe() const override { return "stdout"; }

 private:
  SinkOptions o_;
};

}  // namespace

std::unique_ptr<Sink> sink_stdout(std::string_view, const std::string&, const SinkOptions& options) {
  return std::make_unique<StdoutSink>(options);
}

}  // namespace d4::queues
