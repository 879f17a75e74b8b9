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

struct RedisClient::Connection {
  struct Free {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  std::unique_ptr<redisContext, Free> ctx;
  int db = 0;  // the database the connection is on
};

RedisClient::RedisClient(RedisEndpoint endpoint) : RedisClient(std::move(endpoint), Options{}) {}
RedisClient::RedisClient(RedisEndpoint endpoint, Options options)
    : endpoint_(std::move(endpoint)), options_(options), conn_(std::make_shared<Connection>()) {}
RedisClient::RedisClient(RedisClient&&) noexcept = default;
RedisClient& RedisClient::operator=(RedisClient&&) noexcept = default;
RedisClient::~RedisClient() = default;

RedisClient RedisClient::sharing_connection(int db) {
  if (!conn_) conn_ = std::make_shared<Connection>();
  RedisClient c(endpoint_.with_db(db), options_);
  c.conn_ = conn_;
  return c;
}

bool RedisClient::connected() const {
  return conn_ && conn_->ctx;
}

redisContext* RedisClient::context() const {
  return conn_->ctx.get();
}

void RedisClient::disconnect() {
  if (conn_) conn_->ctx.reset();
}

void RedisClient::fail_connection(const std::string& what) {
  std::string msg = "Redis " + endpoint_.to_string() + ": " + what;
  if (connected() && context()->err) msg += ": " + std::string(context()->errstr);
  disconnect();
  throw RedisError(msg);
}

void RedisClient::connect() {
  if (!conn_) conn_ = std::make_shared<Connection>();
  if (conn_->ctx) return;
  redisContext* c =
      endpoint_.unix_socket.empty()
          ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                    to_timeval(options_.connect_timeout))
          : redisConnectUnixWithTimeout(endpoint_.unix_socket.c_str(), to_timeval(options_.connect_timeout));
  conn_->ctx.reset(c);
  conn_->db = 0;
  if (!c) throw RedisError("Redis " + endpoint_.to_string() + ": out of memory");
  if (c->err) fail_connection("cannot connect");
  redisSetTimeout(c, to_timeval(options_.command_timeout));
  if (endpoint_.unix_socket.empty()) redisEnableKeepAlive(c);
  if (!endpoint_.password.empty()) {
    // Directly: command() would send the SELECT of prepare() first, which needs the AUTH.
    const auto& pw = endpoint_.password;
    const auto& user = endpoint_.username;
    auto* raw = static_cast<redisReply*>(
        user.empty() ? redisCommand(c, "AUTH %b", pw.data(), pw.size())
                     : redisCommand(c, "AUTH %b %b", user.data(), user.size(), pw.data(), pw.size()));
    if (!raw) fail_connection("AUTH failed");
    RedisReply r = from_hiredis(raw);
    freeReplyObject(raw);
    if (r.is_error()) fail_connection("AUTH failed: " + r.str);
  }
}

bool RedisClient::prepare() {
  connect();
  if (conn_->db == endpoint_.db) return false;
  auto db = std::to_string(endpoint_.db);
  if (redisAppendCommand(context(), "SELECT %s", db.c_str()) != REDIS_OK) fail_connection("SELECT failed");
  return true;
}

void RedisClient::read_select_reply() {
  void* raw = nullptr;
  if (redisGetReply(context(), &raw) != REDIS_OK || !raw) fail_connection("SELECT failed");
  auto* reply = static_cast<redisReply*>(raw);
  RedisReply r = from_hiredis(reply);
  freeReplyObject(reply);
  if (r.is_error()) fail_connection("SELECT failed: " + r.str);
  conn_->db = endpoint_.db;
}

RedisReply RedisClient::run(int argc, const char** argv, const std::size_t* lens) {
  bool select = prepare();
  if (redisAppendCommandArgv(context(), argc, argv, lens) != REDIS_OK) fail_connection("command failed");
  if (select) read_select_reply();
  void* raw = nullptr;
  if (redisGetReply(context(), &raw) != REDIS_OK || !raw) fail_connection("command failed");
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
  bool select = prepare();
  for (const auto& cmd : commands) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : cmd) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(context(), static_cast<int>(cmd.size()), argv.data(), lens.data()) != REDIS_OK)
      fail_connection("pipeline append failed");
  }
  if (select) read_select_reply();
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context(), &raw) != REDIS_OK || !raw) fail_connection("pipeline read failed");
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
