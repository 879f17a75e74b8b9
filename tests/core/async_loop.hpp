#pragma once
// Driving an AsyncRedis from a test: an io_context on its own thread, a blocking submit, a wait
// for the connection.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <utility>

#include "core/redis_async.hpp"

namespace d4::test {

// An io_context on its own thread; the client is only touched through run().
class Loop {
 public:
  Loop() : guard_(boost::asio::make_work_guard(ioc)), thread_([this] { ioc.run(); }) {}
  ~Loop() {
    guard_.reset();
    ioc.stop();
    thread_.join();
  }
  template <typename F>
  auto run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    boost::asio::post(ioc, [&task] { task(); });
    return fut.get();
  }
  boost::asio::io_context ioc{1};

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// Submits and blocks until the callback ran; returns (error, replies).
inline std::pair<boost::system::error_code, core::RedisReplies> exec(Loop& loop, core::AsyncRedis& r,
                                                                     std::string resp, std::uint32_t n,
                                                                     bool retry) {
  std::promise<std::pair<boost::system::error_code, core::RedisReplies>> p;
  auto fut = p.get_future();
  loop.run([&] {
    r.submit(std::move(resp), n, retry, [&p](boost::system::error_code ec, core::RedisReplies&& rs) {
      p.set_value({ec, std::move(rs)});
    });
    return 0;
  });
  return fut.get();
}

inline bool wait_connected(Loop& loop, core::AsyncRedis& r,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (loop.run([&] { return r.connected(); })) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace d4::test
