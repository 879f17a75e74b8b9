#pragma once
// TLS client on memory BIOs: the sender owns the socket and moves ciphertext itself, so it knows
// exactly which ciphertext bytes carry which D4 packet (needed to tell what the server's TCP has
// acknowledged). Verification is on by default: CA file or system store, host name or IP check,
// TLS 1.2 minimum; optional client certificate for mutual TLS.
#include <cstdint>
#include <string>
#include <vector>

#include "client/config.hpp"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace d4::client {

class TlsContext {
 public:
  // Throws UsageError when the CA file, certificate or key cannot be loaded.
  explicit TlsContext(const Settings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ssl_ctx_st* get() const { return ctx_; }
  bool verify() const { return verify_; }
  const std::string& server_name() const { return server_name_; }

 private:
  ssl_ctx_st* ctx_ = nullptr;
  bool verify_;
  std::string server_name_;
};

class TlsSession {
 public:
  explicit TlsSession(const TlsContext& ctx);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  enum class Status { Done, Again, Failed };
  Status handshake();
  // Ciphertext received from the socket.
  void feed(const std::uint8_t* data, std::size_t n);
  // Encrypts plaintext (always fully: the output BIO is memory). False on error.
  bool write(const std::uint8_t* data, std::size_t n);
  // Appends the pending ciphertext to out; returns the number of bytes appended.
  std::size_t drain(std::vector<std::uint8_t>& out);
  // Processes received records and discards any application data. Returns false when the peer
  // closed the TLS session or sent a fatal alert (see error()).
  bool discard_input();
  void close_notify();
  // The peer ended the TLS session with close_notify (not with an alert or a bare TCP close).
  bool peer_closed_cleanly() const;
  const std::string& error() const { return error_; }
  std::string describe() const;  // protocol and cipher

 private:
  std::string collect_error(const char* what, int rc);
  ssl_st* ssl_ = nullptr;
  bio_st* rbio_ = nullptr;
  bio_st* wbio_ = nullptr;
  std::string error_;
};

}  // namespace d4::client
