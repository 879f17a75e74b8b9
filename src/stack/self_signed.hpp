#pragma once
// Self-signed TLS certificate for the embedded stack's first run (sensor port and web UI).
#include <filesystem>
#include <string>
#include <vector>

namespace d4::stack {

struct CertificateRequest {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};
  int days = 825;
};

// Writes an ECDSA P-256 key (mode 0600) and a self-signed X.509 certificate in PEM form.
// Throws std::runtime_error on failure.
void write_self_signed_certificate(const CertificateRequest& request, const std::filesystem::path& cert_file,
                                   const std::filesystem::path& key_file);

// SHA-256 fingerprint of a PEM certificate, "AB:CD:..." (printed so operators can pin it).
std::string certificate_fingerprint(const std::filesystem::path& cert_file);

}  // namespace d4::stack
