// A connection from a load balancer listed in proxy_protocol_from starts with a PROXY protocol v2
// header (proxy_protocol.hpp) naming the sensor's address. Once it is read, the session is the
// sensor's as if it had connected directly: blocklists, connection limits, budgets of
// unauthenticated bytes, reject records, statistics and logs see the sensor's address. The header
// comes before TLS and is read straight from the socket, within handshake_timeout.
#include <algorithm>
#include <array>

#include <spdlog/spdlog.h>

#include "server/connection_limiter.hpp"
#include "server/session.hpp"
#include "server/worker.hpp"

namespace asio = boost::asio;

namespace d4::server {

asio::awaitable<bool> Session::accept_proxy_header() {
  awaiting_proxy_header_ = true;
  proxy::Fixed fixed;
  std::optional<proxy::Source> source;
  bool read = co_await read_proxy_header(fixed, source);
  awaiting_proxy_header_ = false;
  if (!read || state_.closing()) co_return false;
  if (fixed.command == proxy::Command::Local) co_return co_await after_local_command();
  co_return adopt_proxied_source(*source);
}

// Reads the header: its fixed part, the address block (kept: at most the 36 bytes of TCP over
// IPv6) and the TLVs (discarded in small reads), so that the peer holds no more than these few
// bytes whatever it declares. False when the connection was refused or ended.
asio::awaitable<bool> Session::read_proxy_header(proxy::Fixed& fixed, std::optional<proxy::Source>& source) {
  std::array<std::uint8_t, proxy::kFixedSize> head{};
  std::size_t n = co_await transport_.read_before_tls(head);
  if (state_.closing()) co_return false;
  if (n == 0 && (transport_.peer_ended() || transport_.peer_reset())) {
    end_health_check();  // a TCP health check: connected and closed (HAProxy resets it)
    co_return false;
  }
  if (n < head.size()) {
    refuse_incomplete_proxy_header(n);
    co_return false;
  }
  std::string why;
  auto parsed = proxy::parse_fixed(head, &why);
  if (!parsed) {
    abort(Reject::proxy_header_invalid, why);
    co_return false;
  }
  fixed = *parsed;
  std::array<std::uint8_t, proxy::kTcp6AddressSize> block{};
  const std::size_t kept = std::min<std::size_t>(fixed.length, block.size());
  n = co_await transport_.read_before_tls(std::span(block).first(kept));
  std::size_t received = head.size() + n;
  std::array<std::uint8_t, 256> tlvs{};
  for (std::size_t left = fixed.length - kept; n == kept && left > 0 && !state_.closing();) {
    const std::size_t want = std::min(left, tlvs.size());
    std::size_t got = co_await transport_.read_before_tls(std::span(tlvs).first(want));
    received += got;
    left -= got;
    if (got < want) n = 0;  // ended early
  }
  if (state_.closing()) co_return false;
  if (received < head.size() + fixed.length) {
    refuse_incomplete_proxy_header(received);
    co_return false;
  }
  if (fixed.command == proxy::Command::Local) co_return true;
  source = proxy::parse_source(fixed, std::span(block).first(kept), &why);
  if (!source) abort(Reject::proxy_header_invalid, why);
  co_return source.has_value();
}

void Session::refuse_incomplete_proxy_header(std::size_t received) {
  std::string how = transport_.error().empty() ? "the connection ended" : transport_.error();
  abort(Reject::proxy_header_invalid,
        how + " after " + std::to_string(received) + " bytes of a PROXY protocol header");
}

// LOCAL: the balancer's own connection, a health check. It may go on with a TLS handshake, then
// checked as any peer under the balancer's address, or close, which is no reject.
asio::awaitable<bool> Session::after_local_command() {
  worker_.metrics().proxy_health_checks.fetch_add(1, std::memory_order_relaxed);
  co_await transport_.wait_readable();
  if (state_.closing()) co_return false;
  if (transport_.at_end_of_stream()) {
    state_.end(SessionState::Ending::StreamOver);
    transport_.close();
    co_return false;
  }
  co_return true;
}

void Session::end_health_check() {
  worker_.metrics().proxy_health_checks.fetch_add(1, std::memory_order_relaxed);
  state_.end(SessionState::Ending::StreamOver);
  transport_.close();
}

// From here on the sensor's address is the peer's: checked against the blocklist and the
// per-address connection limit as at accept time, with its own budget of unauthenticated bytes.
bool Session::adopt_proxied_source(const proxy::Source& source) {
  peer_.proxy_ip = peer_.ip;
  peer_.address = source.address;
  peer_.ip = source.address.to_string();
  peer_.port = source.port;
  unauth_hold_ = worker_.unauthenticated_budget().hold(peer_.address);
  worker_.metrics().proxied_connections.fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("session {}: PROXY header from {}: sensor at {} port {}", session_id_, peer_.proxy_ip,
                peer_.ip, peer_.port);
  if (!admit(AdmissionMoment::PolicyRefresh)) return false;  // before a header: the address only
  const auto& rt = worker_.runtime();
  if (auto refused = worker_.limiter().transfer(limiter_ip_, peer_.ip, rt.max_connections_per_ip)) {
    abort(*refused, connection_limit_detail(*refused, rt.max_connections, rt.max_connections_per_ip));
    return false;
  }
  limiter_ip_ = peer_.ip;
  return true;
}

// A PROXY header from a source not in proxy_protocol_from on the plain listener: it would reach the
// framer as a packet header of an unknown version, while the same header on the TLS listener is
// refused as unexpected (Session::main). Six bytes tell it apart from a D4 header (version 1).
bool Session::refuse_stray_proxy_header(std::span<const std::uint8_t> first_bytes) {
  constexpr std::size_t kEnoughToTell = 6;  // "PROXY " or the first half of the binary signature
  if (transport_.is_tls() || first_bytes.size() < kEnoughToTell ||
      !proxy::starts_like_proxy_header(first_bytes))
    return false;
  refuse_unexpected_proxy_header();
  return true;
}

void Session::refuse_unexpected_proxy_header() {
  abort(Reject::proxy_header_unexpected,
        "a PROXY protocol header from " + peer_.ip + ", which is not in proxy_protocol_from");
}

}  // namespace d4::server
