#pragma once
// Notification channels: a webhook (JSON POST whose "text" field Slack and Mattermost display) and
// e-mail over SMTP (STARTTLS required unless configured otherwise), both through libcurl. A
// channel's send() throws NotifyError on any failure; the engine keeps the notification pending
// and retries it (state.hpp).
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alerts/state.hpp"

namespace d4::alerts {

class NotifyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Notification {
  Event event = Event::Firing;
  const InstanceState* state = nullptr;
  double time = 0;     // when it is sent (epoch seconds)
  std::string source;  // who sends: "d4-alerts@<host>" or [alerts] source_name
};

// The JSON body of webhooks (docs/alerts.md, "Webhook payload").
nlohmann::json notification_json(const Notification& n);
// One line for people: "[FIRING] <rule>: <summary>" (the webhook's "text", the mail's subject).
std::string notification_title(const Notification& n);
// The plain-text body of mails: title, details, labels.
std::string notification_text(const Notification& n);

class Channel {
 public:
  explicit Channel(std::string name) : name_(std::move(name)) {}
  virtual ~Channel() = default;
  const std::string& name() const { return name_; }
  virtual std::string_view type() const = 0;
  virtual void send(const Notification& n) = 0;

 private:
  std::string name_;
};

struct WebhookConfig {
  std::string name;
  std::string url;                   // http:// or https://
  std::vector<std::string> headers;  // "Name: value" (e.g. an Authorization header)
  std::string ca_file;               // trust this CA for https (default: the system's)
  std::chrono::milliseconds timeout{10000};
};

struct EmailConfig {
  std::string name;
  std::string url;  // smtp://host:587 (STARTTLS) or smtps://host:465 (TLS from the start)
  std::string from;
  std::vector<std::string> to;
  std::string username, password;
  bool require_tls = true;  // smtp://: refuse to send when the server does not offer STARTTLS
  std::string ca_file;
  std::chrono::milliseconds timeout{20000};
};

std::unique_ptr<Channel> make_webhook(WebhookConfig config);
std::unique_ptr<Channel> make_email(EmailConfig config);

}  // namespace d4::alerts
