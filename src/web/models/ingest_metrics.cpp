// d4-server's metrics, read over plain HTTP with a deadline (core/http_client.hpp).
#include "web/models/ingest_metrics.hpp"

#include <cstdlib>
#include <optional>

#include "core/http_client.hpp"

namespace d4::web::models {

namespace {

// "http://host:port/path" (IPv6 hosts in brackets); the wildcard listen addresses d4-server may
// be configured with are reached on loopback.
std::optional<core::http::GetTarget> parse_http_url(const std::string& url) {
  if (url.rfind("http://", 0) != 0) return std::nullopt;
  std::string rest = url.substr(7);
  auto slash = rest.find('/');
  core::http::GetTarget t;
  t.host_header = rest.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = t.host_header.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  t.host = t.host_header.substr(0, colon);
  t.port = t.host_header.substr(colon + 1);
  if (t.host.size() >= 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  if (t.host == "0.0.0.0") t.host = "127.0.0.1";
  if (t.host == "::") t.host = "::1";
  return t;
}

// Prometheus text: "name{labels} value" lines, comments skipped, at most 200.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> metrics;
  std::size_t pos = 0;
  while (pos < text.size() && metrics.size() < 200) {
    auto nl = text.find('\n', pos);
    auto line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    metrics[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return metrics;
}

}  // namespace

IngestState read_ingest_metrics(const std::string& url, std::chrono::milliseconds timeout) {
  IngestState s;
  s.url = url;
  auto target = parse_http_url(url);
  if (!target) return s;
  auto text = core::http::get_body(*target, timeout);
  if (!text || text->empty()) return s;
  s.reachable = true;
  s.metrics = parse_metrics(*text);
  return s;
}

}  // namespace d4::web::models
