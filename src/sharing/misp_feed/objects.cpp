#include "sharing/misp_feed/objects.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "analyzers/pdns/rrtype.hpp"
#include "analyzers/tls/passivessl.hpp"
#include "sharing/misp_feed/templates.hpp"
#include "sharing/misp_feed/uuid5.hpp"

namespace d4::sharing::misp {
namespace {

std::string get(const std::map<std::string, std::string>& h, const std::string& name) {
  auto it = h.find(name);
  return it == h.end() ? std::string() : it->second;
}

std::string boolean(const std::string& stored) {
  return stored == "1" || stored == "true" || stored == "True" ? "True" : "False";
}

// A stored certificate date (RFC 3339 from OpenSSL or a Go sensor) as a MISP datetime.
std::string certificate_date(const std::string& stored) {
  auto epoch = analyzers::tls::parse_rfc3339(stored);
  return epoch ? format_datetime(*epoch) : std::string();
}

std::string seen_text(std::uint64_t sessions, std::int64_t first, std::int64_t last) {
  if (!first) return {};
  return fmt::format("seen in {} TLS session(s) between {} and {}", sessions, format_datetime(first),
                     format_datetime(last));
}

}  // namespace

bool is_plain_hostname(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.find('.') == std::string_view::npos) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

MispObject victim_object(const std::string& event_uuid, const Victim& v, std::uint64_t min_packets) {
  ObjectBuilder b(ddos_template(), uuid5(event_uuid, "ddos|" + v.address));
  b.add("ip-dst", v.address, "victim: the source of the backscatter");
  for (const auto& [port, packets] : v.ports) b.add("dst-port", port);
  b.add("first-seen", format_datetime(v.first));
  b.add("last-seen", format_datetime(v.last));
  b.add("protocol", "TCP");
  b.add("capture-origin", "Indirect network capture (e.g. backscatter)");
  b.add("backscatter-threshold", std::to_string(min_packets),
        "minimum backscatter packets per victim and period");
  b.add("total-packets-sent", std::to_string(v.packets),
        "backscatter packets received from the victim during the period (its answers to spoofed traffic)");
  std::uint64_t syn_answers = 0;
  std::string mix;
  for (const auto& [flag, n] : v.flags) {
    if (flag == "syn_ack" || flag == "rst_ack") syn_answers += n;
    mix += fmt::format("{}{}={}", mix.empty() ? "" : " ", flag, n);
  }
  if (syn_answers)
    b.add("type", "tcp-syn", "SYN-ACK and RST-ACK answers: SYNs with spoofed sources reached it");
  std::string ports;
  for (const auto& [port, packets] : v.ports)
    ports += fmt::format("{}{} ({})", ports.empty() ? "" : ", ", port, packets);
  b.add("text",
        fmt::format("Backscatter from {}: {} packets during the period. Since {}: {} packets, flag mix {}, "
                    "{} answering port(s), most hit: {}",
                    v.address, v.packets, format_datetime(v.first_seen), v.total_packets, mix,
                    v.distinct_ports, ports.empty() ? "none" : ports));
  return b.take();
}

MispObject dns_object(const std::string& event_uuid, const analyzers::pdns::CofRecord& r,
                      const std::string& origin) {
  std::string type = analyzers::dns::type_name(r.rrtype);
  ObjectBuilder b(passive_dns_template(),
                  uuid5(event_uuid, "passive-dns|" + r.rrname + "|" + type + "|" + r.rdata));
  b.add("rrname", r.rrname);
  b.add("rrtype", type);
  b.add("rdata", r.rdata);
  b.add("time_first", format_datetime(r.time_first));
  b.add("time_last", format_datetime(r.time_last));
  b.add("count", std::to_string(r.count));
  b.add("origin", origin);
  return b.take();
}

MispObject x509_object(const std::string& event_uuid, const SslCertificateRecord& c, bool include_raw) {
  const auto& h = c.fields;
  ObjectBuilder b(x509_template(), uuid5(event_uuid, "x509|" + c.sha1));
  b.add("x509-fingerprint-sha1", c.sha1);
  b.add("x509-fingerprint-sha256", get(h, "sha256"));
  b.add("subject", get(h, "subject"));
  b.add("issuer", get(h, "issuer"));
  b.add("serial-number", get(h, "serial"));
  b.add("validity-not-before", certificate_date(get(h, "not_before")));
  b.add("validity-not-after", certificate_date(get(h, "not_after")));
  b.add("pubkey-info-algorithm", get(h, "key_algorithm"));
  b.add("pubkey-info-size", get(h, "key_bits"));
  b.add("is_ca", boolean(get(h, "is_ca")));
  b.add("self_signed", boolean(get(h, "is_self_signed")));
  std::string other_names;
  auto names = nlohmann::json::parse(get(h, "dns_names"), nullptr, false);
  if (names.is_array())
    for (const auto& n : names) {
      if (!n.is_string()) continue;
      const auto name = n.get<std::string>();
      if (is_plain_hostname(name))
        b.add("dns_names", name);
      else
        other_names += (other_names.empty() ? "" : ", ") + name;
    }
  if (include_raw) b.add("raw-base64", get(h, "raw"));
  std::string text =
      seen_text(static_cast<std::uint64_t>(std::atoll(get(h, "count").c_str())),
                std::atoll(get(h, "first_seen").c_str()), std::atoll(get(h, "last_seen").c_str()));
  if (!other_names.empty()) text += (text.empty() ? "" : "; ") + std::string("other names: ") + other_names;
  b.add("text", text);
  return b.take();
}

MispObject ja3_object(const std::string& event_uuid, const Fingerprint& f) {
  ObjectBuilder b(ja3_template(), uuid5(event_uuid, "ja3|" + f.md5));
  b.add("ja3-fingerprint-md5", f.md5, f.raw);
  if (f.first_seen) {
    b.add("first-seen", format_datetime(f.first_seen));
    b.add("last-seen", format_datetime(f.last_seen));
  }
  return b.take();
}

MispObject ja3s_object(const std::string& event_uuid, const std::string& ja3, const Fingerprint& server) {
  ObjectBuilder b(ja3s_template(), uuid5(event_uuid, "ja3s|" + ja3 + "|" + server.md5));
  b.add("ja3-fingerprint-md5", ja3);
  b.add("ja3s-fingerprint-md5", server.md5, server.raw);
  if (server.first_seen) {
    b.add("first-seen", format_datetime(server.first_seen), "of the JA3S fingerprint");
    b.add("last-seen", format_datetime(server.last_seen), "of the JA3S fingerprint");
  }
  return b.take();
}

}  // namespace d4::sharing::misp
