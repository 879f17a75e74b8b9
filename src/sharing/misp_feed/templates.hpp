#pragma once
// The MISP object templates the feed uses (MISP/misp-objects: ddos, passive-dns, x509, ja3, ja3s),
// described by what an exporter must reproduce: the template's uuid, version and meta-category,
// and per object relation its MISP attribute type, category and correlation flag. MISP and PyMISP
// match objects to their templates by name + uuid + version; a relation or type that differs from
// the template is refused by strict validation (tests/sharing/validate_with_pymisp.py checks every
// exported object against the templates PyMISP ships).
//
// Categories: the first of the template's "categories" when it lists some, else the MISP default
// category of the type (describeTypes.json "sane_defaults"). to_ids is always false: the feed
// carries observations (victims of attacks, DNS resolutions, certificates), not indicators to
// block.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sharing/misp_feed/event.hpp"

namespace d4::sharing::misp {

struct RelationSpec {
  std::string_view relation;
  std::string_view type;      // MISP attribute type
  std::string_view category;  // MISP category
  bool disable_correlation = false;
  bool multiple = false;
};

struct TemplateSpec {
  std::string_view name;
  std::string_view uuid;
  int version = 0;
  std::string_view meta_category;
  std::string_view description;
  std::span<const RelationSpec> relations;
  const RelationSpec* find(std::string_view relation) const;
};

const TemplateSpec& ddos_template();
const TemplateSpec& passive_dns_template();
const TemplateSpec& x509_template();
const TemplateSpec& ja3_template();
const TemplateSpec& ja3s_template();

// Builds one object of a template: attribute uuids derive from the object's uuid (UUIDv5 of the
// relation for single-valued relations, of relation and value for multiple ones), so a value that
// changes keeps its attribute (MISP updates it) and the same export gives the same uuids.
class ObjectBuilder {
 public:
  ObjectBuilder(const TemplateSpec& spec, std::string object_uuid);
  // Adds an attribute; empty values are skipped (MISP refuses them). Throws std::logic_error for a
  // relation the template lacks, or a second value of a single-valued relation (a programming
  // error, never input-dependent).
  ObjectBuilder& add(std::string_view relation, std::string value, std::string comment = {});
  std::size_t size() const { return object_.attributes.size(); }
  MispObject take() { return std::move(object_); }

 private:
  const TemplateSpec& spec_;
  MispObject object_;
};

}  // namespace d4::sharing::misp
