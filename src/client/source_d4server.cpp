// The d4server source: forwards a D4 server's analyzer queue (a Redis list) to another D4 server,
// like the Go client's d4server source, without its losses. See docs/sharing.md.
//
// The D4 server LPUSHes each record at the head of the list, so the oldest element is at the
// right: elements are moved, oldest first, with LMOVE/BLMOVE queue -> processing RIGHT LEFT, which
// keeps them in Redis until they are delivered. The processing list is
// "<queue>:processing:<forwarder id>" and holds, oldest at the right, every element handed to the
// reader and not yet acknowledged by the destination. Each element becomes one record: its bytes
// then "\n". The element's end is recorded as an offset in the byte stream given to the reader;
// the sender counts the payload bytes the destination acknowledged (Stats::payload_delivered), and
// once that count passes an element's end the element is removed (LREM processing -1 element).
// At start, whatever the processing list still holds (a previous run that was killed, or lost its
// destination) is sent first: at-least-once delivery.
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <random>

#include "client/log.hpp"
#include "client/resp.hpp"
#include "client/source.hpp"

namespace d4::client {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kFetchBatch = 64;    // LMOVEs pipelined while the queue has elements
constexpr std::size_t kAckBatch = 256;     // LREMs pipelined
constexpr int kBlockMs = 1000;             // longest BLMOVE wait
constexpr int kBlockWhileUnackedMs = 200;  // shorter while removals are due soon
constexpr auto kRetryMin = std::chrono::milliseconds(200);
constexpr auto kRetryMax = std::chrono::milliseconds(5000);

std::string seconds_text(int ms) {
  return std::to_string(ms / 1000) + "." + std::to_string((ms % 1000) / 100);
}

class D4ServerSource final : public Source {
 public:
  D4ServerSource(const Settings& s, int stop_fd, const std::atomic<std::uint64_t>* delivered)
      : queue_(s.redis_queue),
        processing_(s.redis_queue + ":processing:" + s.forwarder_id),
        stop_fd_(stop_fd),
        delivered_(delivered),
        redis_(s.redis_address, stop_fd, static_cast<int>(s.redis_timeout.count())),
        rng_(std::random_device{}()) {
    log_info("forwarding Redis list " + queue_ + " on " + redis_.address().describe() +
             " (elements in transit are kept in " + processing_ + ")");
  }

  std::string describe() const override { return "d4server " + redis_.address().describe() + " " + queue_; }

  ReadResult read(std::span<std::uint8_t> buf, int timeout_ms) override {
    const bool bounded = timeout_ms >= 0;
    const auto deadline = Clock::now() + std::chrono::milliseconds(bounded ? timeout_ms : 0);
    for (;;) {
      if (next_out_ < tracked_.size()) return hand_out(buf);
      if (!fatal_.empty()) return {ReadStatus::Error, 0, fatal_};
      if (stop_fired()) return {ReadStatus::Interrupted, 0, {}};
      int left_ms = kBlockMs;
      if (bounded) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return {ReadStatus::Timeout, 0, {}};
        left_ms = static_cast<int>(std::min<long long>(left, kBlockMs));
      }
      if (!ensure_connected(left_ms) || !fatal_.empty()) continue;
      if (!acknowledge()) continue;
      // While delivered elements wait for removal, come back sooner.
      if (!tracked_.empty()) left_ms = std::min(left_ms, kBlockWhileUnackedMs);
      fetch(left_ms);
    }
  }

  // At exit, after the destination is done: remove what it acknowledged meanwhile.
  void log_summary() override {
    redis_.set_stop_fd(-1);
    if (fatal_.empty() && delivered_ && !tracked_.empty()) {
      for (int attempt = 0; attempt < 3 && delivered_count() > 0; ++attempt) {
        if (!redis_.connected() && !connect_and_reconcile()) continue;
        acknowledge();
      }
    }
    std::size_t left = tracked_.size();
    log_info("d4server: " + std::to_string(forwarded_) + " elements forwarded and removed; " +
             std::to_string(left) + " left in " + processing_ +
             (left ? " (sent first by the next run)" : ""));
  }

 private:
  struct Element {
    std::uint64_t end;  // stream offset just after the element's "\n"
    std::string value;
  };
  enum class InFlight { None, Move, Remove };

  bool stop_fired() const {
    pollfd p{stop_fd_, POLLIN, 0};
    return stop_fd_ >= 0 && ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
  }

  ReadResult hand_out(std::span<std::uint8_t> buf) {
    std::size_t n = 0;
    while (n < buf.size() && next_out_ < tracked_.size()) {
      const std::string& v = tracked_[next_out_].value;
      if (out_off_ < v.size()) {
        std::size_t k = std::min(buf.size() - n, v.size() - out_off_);
        std::memcpy(buf.data() + n, v.data() + out_off_, k);
        n += k;
        out_off_ += k;
      }
      if (out_off_ == v.size() && n < buf.size()) {
        buf[n++] = '\n';
        ++next_out_;
        out_off_ = 0;
      }
    }
    return {ReadStatus::Data, n, {}};
  }

  void track(std::string value) {
    appended_ += value.size() + 1;
    tracked_.push_back({appended_, std::move(value)});
  }

  // Number of elements at the front that the destination acknowledged.
  std::size_t delivered_count() const {
    if (!delivered_) return 0;
    std::uint64_t d = delivered_->load(std::memory_order_acquire);
    std::size_t n = 0;
    while (n < next_out_ && tracked_[n].end <= d) ++n;
    return n;
  }

  void fatal(const std::string& what, const RespReply& r) {
    fatal_ = "d4server: " + what + ": Redis error: " + r.text;
  }

  // Connects with backoff; at most wait_ms is spent waiting here. False when not connected.
  bool ensure_connected(int wait_ms) {
    if (redis_.connected()) return true;
    auto now = Clock::now();
    if (now < retry_at_) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now).count() + 1;
      pollfd p{stop_fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<long long>(ms, wait_ms)));
      return false;
    }
    if (connect_and_reconcile()) return true;
    if (redis_.stopped()) return false;
    auto delay = std::min<std::chrono::milliseconds>(kRetryMax, kRetryMin * (1 << std::min(failures_, 5)));
    std::uniform_int_distribution<long long> jitter(delay.count() / 2, delay.count());
    auto d = std::chrono::milliseconds(jitter(rng_));
    ++failures_;
    retry_at_ = Clock::now() + d;
    if (failures_ == 1 || failures_ % 10 == 0)
      log_warn("d4server: Redis " + redis_.address().describe() + ": " + redis_.error() + "; retrying in " +
               std::to_string(d.count()) + " ms");
    return false;
  }

  bool connect_and_reconcile() {
    if (!redis_.connect()) return false;
    if (!recovered_) {
      // A previous run's elements first, oldest (rightmost) first.
      auto r = redis_.command({"LRANGE", processing_, "0", "-1"});
      if (!r) return false;
      if (r->is_error() || r->kind != RespReply::Kind::Array) {
        fatal("LRANGE " + processing_, *r);
        return true;
      }
      for (auto it = r->elements.rbegin(); it != r->elements.rend(); ++it) track(std::move(it->text));
      if (!r->elements.empty())
        log_warn("d4server: " + std::to_string(r->elements.size()) + " elements left in " + processing_ +
                 " by a previous run are sent again first");
      recovered_ = true;
    } else if (in_flight_ != InFlight::None) {
      // The connection broke with commands in flight: did they run? Only this forwarder uses the
      // processing list, so its length tells.
      auto r = redis_.command({"LLEN", processing_});
      if (!r) return false;
      auto have = static_cast<long long>(tracked_.size());
      long long len = r->kind == RespReply::Kind::Integer ? r->integer : -1;
      if (in_flight_ == InFlight::Move && len > have &&
          len - have <= static_cast<long long>(in_flight_count_)) {
        auto moved = redis_.command({"LRANGE", processing_, "0", std::to_string(len - have - 1)});
        if (!moved) return false;
        for (auto it = moved->elements.rbegin(); it != moved->elements.rend(); ++it)
          track(std::move(it->text));
        log_info("d4server: adopted " + std::to_string(len - have) +
                 " elements moved just before Redis went away");
      } else if (in_flight_ == InFlight::Remove && len < have &&
                 have - len <= static_cast<long long>(in_flight_count_)) {
        drop_front(static_cast<std::size_t>(have - len));
      } else if (len != have) {
        log_warn(
            "d4server: " + processing_ + " holds " + std::to_string(len) + " elements, " +
            std::to_string(have) +
            " expected (Redis restarted without persistence, or another process uses this forwarder id)");
      }
    }
    in_flight_ = InFlight::None;
    if (failures_ > 0) log_info("d4server: Redis " + redis_.address().describe() + " reachable again");
    failures_ = 0;
    return true;
  }

  void drop_front(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) tracked_.pop_front();
    next_out_ -= n;
    forwarded_ += n;
  }

  // Removes the delivered elements from the processing list. False when the connection broke.
  bool acknowledge() {
    for (;;) {
      std::size_t n = std::min(delivered_count(), kAckBatch);
      if (n == 0) return true;
      std::vector<std::vector<std::string>> cmds;
      cmds.reserve(n);
      for (std::size_t i = 0; i < n; ++i) cmds.push_back({"LREM", processing_, "-1", tracked_[i].value});
      in_flight_ = InFlight::Remove;
      in_flight_count_ = n;
      auto replies = redis_.pipeline(cmds);
      if (!replies) return false;
      in_flight_ = InFlight::None;
      for (auto& r : *replies)
        if (r.is_error()) {
          fatal("LREM " + processing_, r);
          return false;
        }
      drop_front(n);
    }
  }

  // Moves elements into the processing list: a pipelined batch of LMOVE while the queue has
  // elements, one BLMOVE waiting up to block_ms when it looked empty.
  void fetch(int block_ms) {
    std::vector<std::vector<std::string>> cmds;
    int extra_wait = 0;
    if (queue_nonempty_) {
      for (std::size_t i = 0; i < kFetchBatch; ++i)
        cmds.push_back(use_lmove_ ? std::vector<std::string>{"LMOVE", queue_, processing_, "RIGHT", "LEFT"}
                                  : std::vector<std::string>{"RPOPLPUSH", queue_, processing_});
    } else {
      std::string t = seconds_text(std::max(block_ms, 100));
      cmds.push_back(use_lmove_ ? std::vector<std::string>{"BLMOVE", queue_, processing_, "RIGHT", "LEFT", t}
                                : std::vector<std::string>{"BRPOPLPUSH", queue_, processing_, t});
      extra_wait = block_ms;
    }
    in_flight_ = InFlight::Move;
    in_flight_count_ = cmds.size();
    auto replies = redis_.pipeline(cmds, extra_wait);
    if (!replies) return;
    in_flight_ = InFlight::None;
    bool got_all = true;
    for (auto& r : *replies) {
      if (r.kind == RespReply::Kind::Bulk) {
        track(std::move(r.text));
        continue;
      }
      got_all = false;
      if (r.is_error()) {
        if (use_lmove_ && r.text.find("unknown command") != std::string::npos) {
          // Redis before 6.2: the deprecated equivalents.
          use_lmove_ = false;
          log_info("d4server: Redis has no LMOVE/BLMOVE; using RPOPLPUSH/BRPOPLPUSH");
          return;
        }
        fatal(cmds.front()[0] + " " + queue_, r);
        return;
      }
    }
    queue_nonempty_ = got_all;
  }

  const std::string queue_;
  const std::string processing_;
  const int stop_fd_;
  const std::atomic<std::uint64_t>* delivered_;
  RespClient redis_;
  std::mt19937_64 rng_;

  std::deque<Element> tracked_;  // the processing list, oldest (rightmost) first
  std::size_t next_out_ = 0;     // index in tracked_ of the element being handed out
  std::size_t out_off_ = 0;      // bytes of it handed out
  std::uint64_t appended_ = 0;   // stream offset after the last tracked element
  std::uint64_t forwarded_ = 0;  // elements delivered and removed
  bool recovered_ = false;
  bool queue_nonempty_ = false;
  bool use_lmove_ = true;
  InFlight in_flight_ = InFlight::None;
  std::size_t in_flight_count_ = 0;
  int failures_ = 0;
  Clock::time_point retry_at_{};
  std::string fatal_;
};

}  // namespace

std::unique_ptr<Source> make_d4server_source(const Settings& settings, int stop_fd,
                                             const std::atomic<std::uint64_t>* delivered) {
  return std::make_unique<D4ServerSource>(settings, stop_fd, delivered);
}

}  // namespace d4::client
