#pragma once
// Fuzz entry points of the analyzers' parsers. Each fuzz_*.cpp defines one and, when built as a
// libFuzzer target (D4_LIBFUZZER_MAIN), LLVMFuzzerTestOneInput calling it; the corpus test calls
// them directly in every build.
#include <cstddef>
#include <cstdint>

// DNS messages (all sections, rdata in both styles, names at every offset) and the text inputs
// of passive DNS (passivedns CSV, dnscap, COF).
int d4_fuzz_dns(const std::uint8_t* data, std::size_t size);
// Frame decoding for every link type, capture files in memory, the TLS record layer and
// handshake parsers, X.509 decoding, and the session tracker over a synthetic TCP flow.
int d4_fuzz_tls(const std::uint8_t* data, std::size_t size);
