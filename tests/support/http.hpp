#pragma once
// Blocking HTTP GET on loopback for tests: a daemon's /metrics and /health.
#include <optional>
#include <string>

namespace d4::test {

struct HttpResponse {
  int status = 0;
  std::string body;
};
// nullopt when nothing answers on 127.0.0.1:port (10 s socket timeouts).
std::optional<HttpResponse> http_get(int port, const std::string& path);
// Value of one Prometheus sample, its exact name with labels (e.g. d4_server_rejects_total{reason="x"}),
// from http://127.0.0.1:port/metrics; nullopt when absent or unreachable.
std::optional<double> metric(int metrics_port, const std::string& sample);

}  // namespace d4::test
