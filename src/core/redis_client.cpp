#include "core/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <random>

namespace d4::core {
namespace {
timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}
}  // namespace

void RedisClient::Deleter::operator()(redisContext* c) const {
  redisFree(c);
}

RedisClient::RedisClient(RedisEndpoint endpoint) : RedisClient(std::move(endpoint), Options{}) {}
RedisClient::RedisClient(RedisEndpoint endpoint, Options options)
    : endpoint_(std::move(endpoint)), options_(options) {}
RedisClient::RedisClient(RedisClient&&) noexcept = default;
RedisClient& RedisClient::operator=(RedisClient&&) noexcept = default;
RedisClient::~RedisClient() = default;

void RedisClient::disconnect() {
  ctx_.reset();
}

void RedisClient::fail_connection(const std::string& what) {
  std::string msg = "Redis " + endpoint_.to_string() + ": " + what;
  if (ctx_ && ctx_->err) msg += ": " + std::string(ctx_->errstr);
  ctx_.reset();
  throw RedisError(msg);
}

void RedisClient::connect() {
  if (ctx_) return;
  redisContext* c =
      endpoint_.unix_socket.empty()
          ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                    to_timeval(options_.connect_timeout))
          : redisConnectUnixWithTimeout(endpoint_.unix_socket.c_str(), to_timeval(options_.connect_timeout));
  ctx_.reset(c);
  if (!c) throw RedisError("Redis " + endpoint_.to_string() + ": out of memory");
  if (c->err) fail_connection("cannot connect");
  redisSetTimeout(c, to_timeval(options_.command_timeout));
  if (endpoint_.unix_socket.empty()) redisEnableKeepAlive(c);
  if (!endpoint_.password.empty()) {
    auto r = command({"AUTH", endpoint_.password});
    if (r.is_error()) fail_connection("AUTH failed: " + r.str);
  }
  if (endpoint_.db != 0) {
    auto db = std::to_string(endpoint_.db);
    auto r = command({"SELECT", db});
    if (r.is_error()) fail_connection("SELECT failed: " + r.str);
  }
}

RedisReply RedisClient::run(int argc, const char** argv, const std::size_t* lens) {
  connect();
  void* raw = redisCommandArgv(ctx_.get(), argc, argv, lens);
  if (!raw) fail_connection("command failed");
  auto* reply = static_cast<redisReply*>(raw);
  RedisReply out = from_hiredis(reply);
  freeReplyObject(reply);
  return out;
}

RedisReply RedisClient::command(std::initializer_list<std::string_view> args) {
  return command(std::vector<std::string_view>(args));
}

RedisReply RedisClient::command(const std::vector<std::string>& args) {
  std::vector<std::string_view> v(args.begin(), args.end());
  return command(v);
}

RedisReply RedisClient::command(const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return run(static_cast<int>(args.size()), argv.data(), lens.data());
}

RedisReply RedisClient::command_ok(std::initializer_list<std::string_view> args) {
  RedisReply r = command(args);
  if (r.is_error()) throw RedisError("Redis " + std::string(*args.begin()) + ": " + r.str);
  return r;
}

std::vector<RedisReply> RedisClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
  connect();
  for (const auto& cmd : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : cmd) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_.get(), static_cast<int>(cmd.size()), argv.data(), lens.data()) !=
        REDIS_OK)
      fail_connection("pipeline append failed");
  }
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || !raw) fail_connection("pipeline read failed");
    auto* reply = static_cast<redisReply*>(raw);
    out.push_back(from_hiredis(reply));
    freeReplyObject(reply);
  }
  return out;
}

bool RedisClient::ping() noexcept {
  try {
    auto r = command({"PING"});
    return r.is_string() && r.str == "PONG";
  } catch (...) {
    return false;
  }
}

std::unique_ptr<RedisClient> RedisClientPool::acquire() {
  std::lock_guard lock(mu_);
  if (free_.empty()) return std::make_unique<RedisClient>(endpoint_);
  auto c = std::move(free_.back());
  free_.pop_back();
  return c;
}

void RedisClientPool::release(std::unique_ptr<RedisClient> client) {
  std::lock_guard lock(mu_);
  free_.push_back(std::move(client));
}

std::chrono::milliseconds Backoff::next() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int shift = std::min(attempt_, 20);
  ++attempt_;
  auto cap = std::min<long long>(max_.count(), min_.count() * (1LL << shift));
  std::uniform_int_distribution<long long> d(min_.count(), std::max<long long>(min_.count(), cap));
  return std::chrono::milliseconds(d(rng));
}

}  // namespace d4::core
