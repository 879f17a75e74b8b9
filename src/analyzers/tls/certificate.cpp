#include "analyzers/tls/certificate.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <memory>

#include "core/digest.hpp"
#include "protocol/encoding.hpp"
#include "protocol/text.hpp"

namespace d4::analyzers::tls {
namespace {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct NamesDeleter {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};
struct BasicConstraintsDeleter {
  void operator()(BASIC_CONSTRAINTS* b) const { BASIC_CONSTRAINTS_free(b); }
};

std::string name_rfc2253(const X509_NAME* name) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::vector<NameAttribute> name_attributes(const X509_NAME* name) {
  std::vector<NameAttribute> out;
  int count = X509_NAME_entry_count(name);
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(e);
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(e);
    NameAttribute a;
    char oid[128];
    OBJ_obj2txt(oid, sizeof oid, obj, 1);
    std::string_view s(oid);
    std::size_t pos = 0;
    while (pos < s.size()) {
      std::size_t dot = s.find('.', pos);
      a.oid.push_back(std::atoi(std::string(s.substr(pos, dot - pos)).c_str()));
      if (dot == std::string_view::npos) break;
      pos = dot + 1;
    }
    int nid = OBJ_obj2nid(obj);
    a.short_name = nid != NID_undef ? OBJ_nid2sn(nid) : oid;
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0) {
      a.value = utf8_sanitize({reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len)});
      OPENSSL_free(utf8);
    }
    out.push_back(std::move(a));
  }
  return out;
}

bool asn1_time(const ASN1_TIME* t, std::string& text, std::int64_t& epoch) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  text = buf;
  epoch = static_cast<std::int64_t>(timegm(&tm));
  return true;
}

nlohmann::ordered_json go_name(const std::vector<NameAttribute>& attrs) {
  // Go's pkix.Name: attribute arrays by type, CommonName/SerialNumber strings, and Names with the
  // raw OID as an integer array.
  nlohmann::ordered_json j;
  auto list = [&](const char* sn) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& x : attrs)
      if (x.short_name == sn) a.push_back(x.value);
    return a.empty() ? nlohmann::ordered_json(nullptr) : a;
  };
  j["Country"] = list("C");
  j["Organization"] = list("O");
  j["OrganizationalUnit"] = list("OU");
  j["Locality"] = list("L");
  j["Province"] = list("ST");
  j["StreetAddress"] = list("street");
  j["PostalCode"] = list("postalCode");
  std::string serial, cn;
  for (const auto& x : attrs) {
    if (x.short_name == "serialNumber") serial = x.value;
    if (x.short_name == "CN") cn = x.value;
  }
  j["SerialNumber"] = serial;
  j["CommonName"] = cn;
  nlohmann::ordered_json names = nlohmann::ordered_json::array();
  for (const auto& x : attrs) names.push_back({{"Type", x.oid}, {"Value", x.value}});
  j["Names"] = names;
  j["ExtraNames"] = nullptr;
  return j;
}

}  // namespace

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len > 1) {
      // Reject overlong forms, surrogates and code points above U+10FFFF.
      std::uint32_t cp = c & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::optional<CertificateInfo> parse_certificate(std::span<const std::uint8_t> der, std::string* error) {
  const unsigned char* p = der.data();
  std::unique_ptr<X509, X509Deleter> x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x) {
    if (error) {
      char buf[256];
      ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
      *error = buf;
    }
    ERR_clear_error();
    return std::nullopt;
  }
  CertificateInfo c;
  c.der.assign(der.data(), p);  // exactly the certificate's bytes
  c.sha1 = core::sha1_hex(c.der);
  c.sha256 = core::sha256_hex(c.der);
  const X509_NAME* subject = X509_get_subject_name(x.get());
  const X509_NAME* issuer = X509_get_issuer_name(x.get());
  c.subject = utf8_sanitize(name_rfc2253(subject));
  c.issuer = utf8_sanitize(name_rfc2253(issuer));
  c.subject_attributes = name_attributes(subject);
  c.issuer_attributes = name_attributes(issuer);
  c.self_issued = X509_NAME_cmp(subject, issuer) == 0;
  asn1_time(X509_get0_notBefore(x.get()), c.not_before, c.not_before_epoch);
  asn1_time(X509_get0_notAfter(x.get()), c.not_after, c.not_after_epoch);
  c.version = X509_get_version(x.get()) + 1;
  if (const ASN1_INTEGER* serial = X509_get0_serialNumber(x.get())) {
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(ASN1_INTEGER_to_BN(serial, nullptr), BN_free);
    if (bn) {
      char* h = BN_bn2hex(bn.get());
      if (h) {
        c.serial_hex = text::ascii_lower(h);
        OPENSSL_free(h);
      }
    }
  }
  c.signature_algorithm = OBJ_nid2ln(X509_get_signature_nid(x.get()));
  if (EVP_PKEY* key = X509_get0_pubkey(x.get())) {
    c.public_key_bits = EVP_PKEY_get_bits(key);
    int id = EVP_PKEY_get_base_id(key);
    c.public_key_algorithm = id != NID_undef ? OBJ_nid2ln(id) : "unknown";
  }
  if (X509_PUBKEY* pk = X509_get_X509_PUBKEY(x.get())) {
    unsigned char* buf = nullptr;
    int n = i2d_X509_PUBKEY(pk, &buf);
    if (n > 0) {
      c.spki_der.assign(buf, buf + n);
      OPENSSL_free(buf);
      c.spki_sha256 = core::sha256_hex(c.spki_der);
    }
  }
  int crit = 0;
  std::unique_ptr<BASIC_CONSTRAINTS, BasicConstraintsDeleter> bc(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x.get(), NID_basic_constraints, &crit, nullptr)));
  if (bc) {
    c.basic_constraints_valid = true;
    c.is_ca = bc->ca != 0;
  }
  std::unique_ptr<GENERAL_NAMES, NamesDeleter> sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, &crit, nullptr)));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
      auto str = [](const ASN1_IA5STRING* s) {
        return utf8_sanitize(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                              static_cast<std::size_t>(ASN1_STRING_length(s))));
      };
      switch (gn->type) {
        case GEN_DNS:
          c.dns_names.push_back(str(gn->d.dNSName));
          break;
        case GEN_EMAIL:
          c.email_addresses.push_back(str(gn->d.rfc822Name));
          break;
        case GEN_URI:
          c.uris.push_back(str(gn->d.uniformResourceIdentifier));
          break;
        case GEN_IPADD: {
          const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
          char buf[INET6_ADDRSTRLEN] = {0};
          int len = ASN1_STRING_length(ip);
          if (len == 4)
            inet_ntop(AF_INET, ASN1_STRING_get0_data(ip), buf, sizeof buf);
          else if (len == 16)
            inet_ntop(AF_INET6, ASN1_STRING_get0_data(ip), buf, sizeof buf);
          if (buf[0]) c.ip_addresses.push_back(buf);
          break;
        }
        default:
          break;
      }
    }
  }
  return c;
}

nlohmann::ordered_json certificate_json(const CertificateInfo& c) {
  nlohmann::ordered_json j;
  j["CertHash"] = c.sha1;
  j["Raw"] = protocol::base64_encode(c.der);
  j["RawSubjectPublicKeyInfo"] = protocol::base64_encode(c.spki_der);
  j["Version"] = c.version;
  j["Issuer"] = go_name(c.issuer_attributes);
  j["Subject"] = go_name(c.subject_attributes);
  j["NotBefore"] = c.not_before;
  j["NotAfter"] = c.not_after;
  j["BasicConstraintsValid"] = c.basic_constraints_valid;
  j["IsCA"] = c.is_ca;
  auto list = [](const std::vector<std::string>& v) {
    return v.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
  };
  j["DNSNames"] = list(c.dns_names);
  j["EmailAddresses"] = list(c.email_addresses);
  j["IPAddresses"] = list(c.ip_addresses);
  j["URIs"] = list(c.uris);
  j["SHA256"] = c.sha256;
  j["SubjectString"] = c.subject;
  j["IssuerString"] = c.issuer;
  j["SerialNumberHex"] = c.serial_hex;
  j["SignatureAlgorithmName"] = c.signature_algorithm;
  j["PublicKeyAlgorithmName"] = c.public_key_algorithm;
  j["PublicKeyBits"] = c.public_key_bits;
  return j;
}

}  // namespace d4::analyzers::tls
