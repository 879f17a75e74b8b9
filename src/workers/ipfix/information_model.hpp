#pragma once
// The IPFIX information model: names and abstract data types of information elements, keyed by
// (private enterprise number, element id). Built once per process from libfixbuf's copy of the
// IANA registry (with the RFC 5103 reverse elements, PEN 29305) and registry files in the IANA XML
// format, such as CERT's cert_ipfix.xml (PEN 6871, the elements YAF exports). Immutable afterwards,
// so every session thread reads it without locking.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace d4::workers::ipfix {

// RFC 7012 §3.1 abstract data types, numbered as in the IANA "IPFIX Information Element Data
// Types" registry (libfixbuf uses the same numbers).
enum class DataType : std::uint8_t {
  OctetArray = 0,
  Unsigned8,
  Unsigned16,
  Unsigned32,
  Unsigned64,
  Signed8,
  Signed16,
  Signed32,
  Signed64,
  Float32,
  Float64,
  Boolean,
  MacAddress,
  String,
  DateTimeSeconds,
  DateTimeMilliseconds,
  DateTimeMicroseconds,
  DateTimeNanoseconds,
  Ipv4Address,
  Ipv6Address,
  BasicList,
  SubTemplateList,
  SubTemplateMultiList,
};

struct ElementInfo {
  std::string name;  // e.g. "sourceIPv4Address", "reverseOctetDeltaCount", "initialTCPFlags"
  DataType type = DataType::OctetArray;
};

constexpr std::uint32_t kReversePen = 29305;  // RFC 5103 reverse information elements
constexpr std::uint32_t kCertPen = 6871;      // CERT (YAF, SiLK)

class InformationModel {
 public:
  // libfixbuf's IANA elements plus each readable registry file; a file that cannot be read is
  // skipped and described in `warnings`.
  static std::shared_ptr<const InformationModel> load(const std::vector<std::string>& registry_files,
                                                      std::vector<std::string>& warnings);
  // The model of the default registry files (cert_ipfix.xml where libfixbuf installs it), built
  // once on first use.
  static std::shared_ptr<const InformationModel> standard();
  static const std::vector<std::string>& default_registry_files();

  const ElementInfo* find(std::uint32_t pen, std::uint16_t id) const {
    auto it = elements_.find(key(pen, id));
    return it == elements_.end() ? nullptr : &it->second;
  }
  std::size_t size() const { return elements_.size(); }

 private:
  static std::uint64_t key(std::uint32_t pen, std::uint16_t id) { return (std::uint64_t{pen} << 16) | id; }
  std::unordered_map<std::uint64_t, ElementInfo> elements_;
};

}  // namespace d4::workers::ipfix
