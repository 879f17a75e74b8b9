#pragma once
// d4-server's Prometheus metrics as the dashboard and /api/v1/health show them: a GET of
// [web] ingest_metrics_url (plain HTTP, usually loopback) with a short deadline, so that a slow
// or absent ingest server costs a health request at most that deadline.
#include <chrono>
#include <map>
#include <string>

namespace d4::web::models {

struct IngestState {
  std::string url;  // d4-server's metrics URL ([web] ingest_metrics_url)
  bool reachable = false;
  std::map<std::string, double> metrics;  // name{labels} -> value, at most 200
};

// The metrics at `url` ("http://host:port/path"); not reachable on any failure, on a reply other
// than 200, or when `url` is empty.
IngestState read_ingest_metrics(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace d4::web::models
