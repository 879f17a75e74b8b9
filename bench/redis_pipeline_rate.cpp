// Pipelined SET rate of the asynchronous Redis client (core/redis_async.hpp) against any Redis
// endpoint: one node (`127.0.0.1:6379/0`) or a cluster (`redis-cluster://...`), where each request
// is split per master. bench/redis_cluster.sh runs it against both; figures in docs/BENCHMARKS.md.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "core/cli.hpp"
#include "core/redis_async.hpp"

namespace {

struct PipelineRun {
  d4::core::AsyncRedis& redis;
  std::size_t requests, per_request;
  std::string value;
  std::size_t sent = 0, done = 0, errors = 0;

  void send_one() {
    std::string req;
    d4::core::RespWriter w(req);
    for (std::size_t i = 0; i < per_request; ++i)
      w.command({"SET", "bench:" + std::to_string(sent * per_request + i), value});
    ++sent;
    redis.submit(std::move(req), w.commands(), true,
                 [this](boost::system::error_code ec, d4::core::RedisReplies&& rs) {
                   if (ec || rs.empty() || rs.front().is_error()) ++errors;
                   ++done;
                   if (sent < requests) send_one();
                 });
  }
};

}  // namespace

int main(int argc, char** argv) {
  d4::core::cli::App app{"pipelined SET rate of the asynchronous Redis client"};
  std::string endpoint_text;
  std::size_t requests = 2000, per_request = 100, window = 32, value_bytes = 64;
  app.add_option("endpoint", endpoint_text, "Redis endpoint (docs/configuration.md)")->required();
  app.add_option("--requests", requests, "requests to send");
  app.add_option("--per-request", per_request, "SET commands per request");
  app.add_option("--window", window, "requests in flight");
  app.add_option("--value-bytes", value_bytes, "bytes per value");
  if (auto status = d4::core::cli::parse_with_library_status(app, argc, argv)) return *status;
  std::string error;
  auto endpoint = d4::core::RedisEndpoint::parse(endpoint_text, &error);
  if (!endpoint) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  boost::asio::io_context ioc(1);
  d4::core::AsyncRedis redis(ioc, *endpoint);
  redis.start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!redis.connected() && std::chrono::steady_clock::now() < deadline)
    ioc.run_for(std::chrono::milliseconds(10));
  if (!redis.connected()) {
    std::fprintf(stderr, "not connected: %s\n", redis.last_error().c_str());
    return 1;
  }
  PipelineRun run{redis, requests, per_request, std::string(value_bytes, 'v')};
  auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < window && i < requests; ++i) run.send_one();
  while (run.done < requests) ioc.run_one();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %zu SETs in %.3f s: %.0f SETs/s, %zu failed requests\n", endpoint->to_string().c_str(),
              requests * per_request, seconds, static_cast<double>(requests * per_request) / seconds,
              run.errors);
  redis.stop();
  return run.errors == 0 ? 0 : 1;
}
