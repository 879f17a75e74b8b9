#include "alerts/notify.hpp"

#include <curl/curl.h>
#include <openssl/rand.h>

#include <algorithm>
#include <ctime>
#include <mutex>

#include <fmt/format.h>

#include "core/utc_time.hpp"
#include "protocol/encoding.hpp"

namespace d4::alerts {

namespace {

using nlohmann::json;

std::string iso_time(double t) {
  return core::format_utc(static_cast<std::time_t>(t), "%Y-%m-%dT%H:%M:%SZ");
}

// Text that comes from the watched data (a sensor's error text...) must not break a header line.
std::string one_line(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  return out;
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw NotifyError("libcurl could not be initialised");
  });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, CurlDeleter>;

SlistPtr make_slist(const std::vector<std::string>& items) {
  curl_slist* l = nullptr;
  for (const auto& s : items) {
    curl_slist* n = curl_slist_append(l, s.c_str());
    if (!n) {
      curl_slist_free_all(l);
      throw NotifyError("out of memory");
    }
    l = n;
  }
  return SlistPtr(l);
}

// A handle with what every transfer shares: no signals, bounded time, a CA file if configured.
CurlPtr new_handle(std::chrono::milliseconds timeout, const std::string& ca_file, const char* protocols,
                   char* error_buffer) {
  init_curl_once();
  CurlPtr c(curl_easy_init());
  if (!c) throw NotifyError("curl_easy_init failed");
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<long long>(timeout.count(), 10000)));
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, error_buffer);
  if (!ca_file.empty()) curl_easy_setopt(c.get(), CURLOPT_CAINFO, ca_file.c_str());
  return c;
}

void perform(CURL* c, const std::string& channel, const char* error_buffer) {
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    throw NotifyError(
        fmt::format("{}: {}", channel, error_buffer[0] ? error_buffer : curl_easy_strerror(rc)));
}

// Response bodies are not needed; reading a bounded amount keeps a misbehaving receiver cheap.
size_t discard_body(char*, size_t size, size_t n, void* seen) {
  auto* total = static_cast<size_t*>(seen);
  *total += size * n;
  return *total > (1u << 20) ? 0 : size * n;
}

class Webhook : public Channel {
 public:
  explicit Webhook(WebhookConfig c) : Channel(c.name), c_(std::move(c)) { init_curl_once(); }
  std::string_view type() const override { return "webhook"; }
  void send(const Notification& n) override {
    char err[CURL_ERROR_SIZE] = {};
    auto c = new_handle(c_.timeout, c_.ca_file, "http,https", err);
    std::string body = notification_json(n).dump();
    std::vector<std::string> headers{"Content-Type: application/json", "User-Agent: d4-alerts"};
    headers.insert(headers.end(), c_.headers.begin(), c_.headers.end());
    auto hl = make_slist(headers);
    size_t seen = 0;
    curl_easy_setopt(c.get(), CURLOPT_URL, c_.url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, hl.get());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &seen);
    perform(c.get(), name(), err);
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
      throw NotifyError(fmt::format("{}: the receiver answered HTTP {}", name(), status));
  }

 private:
  WebhookConfig c_;
};

// RFC 2047 for a Subject with non-ASCII characters: encoded words of at most 45 bytes (75
// characters once encoded), cut between UTF-8 sequences, on folded lines. Plain ASCII as is.
std::string header_text(const std::string& s) {
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) return s;
  std::string out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t end = std::min(pos + 45, s.size());
    while (end < s.size() && end > pos + 1 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    out += (out.empty() ? "" : "\r\n ") + std::string("=?UTF-8?B?") +
           protocol::base64_encode(std::string_view(s).substr(pos, end - pos)) + "?=";
    pos = end;
  }
  return out;
}

std::string rfc5322_date(double t) {
  return core::format_utc(static_cast<std::time_t>(t), "%a, %d %b %Y %H:%M:%S +0000");
}

std::string message_id() {
  unsigned char b[12];
  if (RAND_bytes(b, sizeof b) != 1) throw NotifyError("RAND_bytes failed");
  std::string id;
  for (unsigned char c : b) id += fmt::format("{:02x}", c);
  return "<" + id + "@d4-alerts>";
}

std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    if (c != '\r') out += c;
  }
  return out;
}

class Email : public Channel {
 public:
  explicit Email(EmailConfig c) : Channel(c.name), c_(std::move(c)) { init_curl_once(); }
  std::string_view type() const override { return "email"; }
  void send(const Notification& n) override {
    std::string to;
    std::vector<std::string> rcpt;
    for (const auto& a : c_.to) {
      to += (to.empty() ? "" : ", ") + a;
      rcpt.push_back("<" + a + ">");
    }
    std::string msg = "Date: " + rfc5322_date(n.time) + "\r\nFrom: " + c_.from + "\r\nTo: " + to +
                      "\r\nSubject: " + header_text(one_line(notification_title(n))) +
                      "\r\nMessage-ID: " + message_id() +
                      "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n" +
                      crlf(notification_text(n));
    char err[CURL_ERROR_SIZE] = {};
    auto c = new_handle(c_.timeout, c_.ca_file, "smtp,smtps", err);
    auto rl = make_slist(rcpt);
    std::string from = "<" + c_.from + ">";
    Reader reader{msg, 0};
    curl_easy_setopt(c.get(), CURLOPT_URL, c_.url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_USE_SSL,
                     static_cast<long>(c_.require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    curl_easy_setopt(c.get(), CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c.get(), CURLOPT_MAIL_RCPT, rl.get());
    if (!c_.username.empty()) {
      curl_easy_setopt(c.get(), CURLOPT_USERNAME, c_.username.c_str());
      curl_easy_setopt(c.get(), CURLOPT_PASSWORD, c_.password.c_str());
    }
    curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(c.get(), CURLOPT_READDATA, &reader);
    curl_easy_setopt(c.get(), CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(msg.size()));
    perform(c.get(), name(), err);
  }

 private:
  struct Reader {
    const std::string& text;
    std::size_t pos;
  };
  static size_t read_message(char* buf, size_t size, size_t n, void* data) {
    auto* r = static_cast<Reader*>(data);
    size_t len = std::min(size * n, r->text.size() - r->pos);
    std::copy_n(r->text.data() + r->pos, len, buf);
    r->pos += len;
    return len;
  }
  EmailConfig c_;
};

}  // namespace

json notification_json(const Notification& n) {
  const auto& s = *n.state;
  json labels = json::object();
  for (const auto& [k, v] : s.labels) labels[k] = v;
  return {{"text", notification_title(n) + " (" + n.source + ")"},
          {"event", to_string(n.event)},
          {"status", s.firing ? "firing" : "resolved"},
          {"rule", {{"id", s.rule_id}, {"name", s.rule_name}, {"kind", s.kind}, {"scope", s.scope}}},
          {"instance", s.instance},
          {"labels", labels},
          {"summary", s.summary},
          {"since", s.since},
          {"since_iso", iso_time(s.since)},
          {"time", n.time},
          {"source", n.source}};
}

std::string notification_title(const Notification& n) {
  const auto& s = *n.state;
  std::string tag = n.event == Event::Firing     ? "[FIRING]"
                    : n.event == Event::Reminder ? "[STILL FIRING since " + iso_time(s.since) + "]"
                                                 : "[RESOLVED]";
  return tag + " " + s.rule_name + ": " + s.summary;
}

std::string notification_text(const Notification& n) {
  const auto& s = *n.state;
  std::string t = notification_title(n) + "\n\n";
  t += fmt::format("rule:     {} ({}, {}, id {})\n", s.rule_name, s.kind, s.scope, s.rule_id);
  t += fmt::format("instance: {}\n", s.instance);
  t += fmt::format("status:   {} since {}\n", s.firing ? "firing" : "resolved", iso_time(s.since));
  for (const auto& [k, v] : s.labels) t += fmt::format("{}: {}\n", k, v);
  t += fmt::format("\nsent by {} at {}\n", n.source, iso_time(n.time));
  return t;
}

std::unique_ptr<Channel> make_webhook(WebhookConfig config) {
  return std::make_unique<Webhook>(std::move(config));
}

std::unique_ptr<Channel> make_email(EmailConfig config) {
  return std::make_unique<Email>(std::move(config));
}

}  // namespace d4::alerts
