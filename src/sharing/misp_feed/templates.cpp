#include "sharing/misp_feed/templates.hpp"

#include <stdexcept>

#include "sharing/misp_feed/uuid5.hpp"

namespace d4::sharing::misp {
namespace {

constexpr std::string_view kNet = "Network activity";
constexpr std::string_view kOther = "Other";

// Only the relations this exporter fills; the types, categories and flags are the templates'.
constexpr RelationSpec kDdos[] = {
    {"ip-dst", "ip-dst", kNet, false, false},
    {"dst-port", "port", kNet, false, true},
    {"first-seen", "datetime", kOther, true, false},
    {"last-seen", "datetime", kOther, true, false},
    {"protocol", "text", kOther, true, false},
    {"capture-origin", "text", kOther, true, false},
    {"backscatter-threshold", "integer", kOther, true, false},
    {"total-packets-sent", "counter", kOther, true, false},
    {"type", "text", kOther, true, true},
    {"text", "text", kOther, true, false},
};

constexpr RelationSpec kPassiveDns[] = {
    {"rrname", "text", kNet, false, false},         {"rrtype", "text", kNet, true, false},
    {"rdata", "text", kOther, false, false},        {"time_first", "datetime", kOther, true, false},
    {"time_last", "datetime", kOther, true, false}, {"count", "counter", kOther, true, false},
    {"origin", "text", kOther, true, false},
};

constexpr RelationSpec kX509[] = {
    {"x509-fingerprint-sha1", "x509-fingerprint-sha1", kNet, false, false},
    {"x509-fingerprint-sha256", "x509-fingerprint-sha256", kNet, false, false},
    {"subject", "text", kOther, false, false},
    {"issuer", "text", kOther, true, false},
    {"serial-number", "text", kOther, false, false},
    {"validity-not-before", "datetime", kOther, true, false},
    {"validity-not-after", "datetime", kOther, true, false},
    {"pubkey-info-algorithm", "text", kOther, true, false},
    {"pubkey-info-size", "text", kOther, true, false},
    {"is_ca", "boolean", kOther, true, false},
    {"self_signed", "boolean", kOther, true, false},
    {"dns_names", "hostname", kNet, false, true},
    {"raw-base64", "text", kOther, false, false},
    {"text", "text", kOther, false, false},
};

constexpr RelationSpec kJa3[] = {
    {"ja3-fingerprint-md5", "ja3-fingerprint-md5", kNet, false, false},
    {"first-seen", "datetime", kOther, true, false},
    {"last-seen", "datetime", kOther, true, false},
};

// MISP has no JA3S attribute type: the ja3s template types the server fingerprint as
// ja3-fingerprint-md5 too, under its own relation.
constexpr RelationSpec kJa3s[] = {
    {"ja3-fingerprint-md5", "ja3-fingerprint-md5", kNet, false, false},
    {"ja3s-fingerprint-md5", "ja3-fingerprint-md5", kNet, false, false},
    {"first-seen", "datetime", kOther, true, false},
    {"last-seen", "datetime", kOther, true, false},
};

}  // namespace

const RelationSpec* TemplateSpec::find(std::string_view relation) const {
  for (const auto& r : relations)
    if (r.relation == relation) return &r;
  return nullptr;
}

const TemplateSpec& ddos_template() {
  static const TemplateSpec t{"ddos",    "e2f124d6-f57c-4f93-99e6-8450545fa05d", 10,
                              "network", "DDoS activity seen at its target",     kDdos};
  return t;
}
const TemplateSpec& passive_dns_template() {
  static const TemplateSpec t{
      "passive-dns", "b77b7b1c-66ab-4a41-8da4-83810f6d2d6c", 5, "network", "Passive DNS record (COF)",
      kPassiveDns};
  return t;
}
const TemplateSpec& x509_template() {
  static const TemplateSpec t{
      "x509", "d1ab756a-26b5-4349-9f43-765630f0911c", 14, "network", "X.509 certificate", kX509};
  return t;
}
const TemplateSpec& ja3_template() {
  static const TemplateSpec t{"ja3",     "09b45449-5d6e-492c-a68a-cb2e188cbfac", 4,
                              "network", "JA3 TLS client fingerprint",           kJa3};
  return t;
}
const TemplateSpec& ja3s_template() {
  static const TemplateSpec t{"ja3s",
                              "7f377f66-d128-4b97-897f-592d06ba2ff7",
                              5,
                              "network",
                              "JA3S TLS server fingerprint answering a JA3 client",
                              kJa3s};
  return t;
}

ObjectBuilder::ObjectBuilder(const TemplateSpec& spec, std::string object_uuid) : spec_(spec) {
  object_.uuid = std::move(object_uuid);
  object_.name = spec.name;
  object_.meta_category = spec.meta_category;
  object_.description = spec.description;
  object_.template_uuid = spec.uuid;
  object_.template_version = spec.version;
}

ObjectBuilder& ObjectBuilder::add(std::string_view relation, std::string value, std::string comment) {
  const RelationSpec* r = spec_.find(relation);
  if (!r)
    throw std::logic_error("MISP template " + std::string(spec_.name) + " has no relation " +
                           std::string(relation));
  if (value.empty()) return *this;
  value = valid_utf8(value);
  comment = valid_utf8(comment);
  for (const auto& a : object_.attributes) {
    if (a.object_relation != relation) continue;
    if (!r->multiple)
      throw std::logic_error("MISP template " + std::string(spec_.name) + ": " + std::string(relation) +
                             " is single-valued");
    if (a.value == value) return *this;  // the same value twice is one attribute
  }
  MispAttribute a;
  a.uuid = uuid5(object_.uuid, r->multiple ? std::string(relation) + "|" + value : std::string(relation));
  a.object_relation = relation;
  a.type = r->type;
  a.category = r->category;
  a.value = std::move(value);
  a.comment = std::move(comment);
  a.disable_correlation = r->disable_correlation;
  object_.attributes.push_back(std::move(a));
  return *this;
}

}  // namespace d4::sharing::misp
