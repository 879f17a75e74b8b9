#pragma once
// What d4-passivessl reads besides single JSON lines: ja3-jl JSON/NDJSON files, certificate files
// (DER, or PEM with one or more certificates, as the D4 server's certs/<sha1>.crt and the
// reference analyzer's -f der), directories of them walked recursively, and tar archives
// (optionally gzip/bzip2/xz/zstd-compressed) or single compressed files holding any of these.
// The kind of each file or archive member is recognised from its content, not its name.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "analyzers/tls/passivessl.hpp"

namespace d4::analyzers::tls {

struct InputCounters {
  std::uint64_t records = 0;       // sessions queued
  std::uint64_t certificates = 0;  // certificates from certificate files
  std::uint64_t rejected = 0;      // lines, certificates, members or files rejected
  std::uint64_t files = 0;         // files and archive members read
  std::uint64_t unreadable = 0;    // files that could not be opened or archives that broke off
};

struct InputOptions {
  std::size_t max_line_bytes = 64u << 20;              // a longer line is rejected (line_too_long)
  std::size_t max_certificate_file_bytes = 16u << 20;  // a larger certificate file is rejected
  // Called whenever this many records/certificates are pending, so a large file is written in
  // parts instead of being held in memory (may throw core::RedisError, as store.flush()).
  std::size_t flush_every = 1000;
  std::function<void()> flush;
};

// One queue element or command-line input: a JSON line (starts with '{'), a file or a directory.
void process_input(const std::string& input, PassiveSslStore& store, InputCounters& counters,
                   const InputOptions& options = {});

// One ja3-jl line from anywhere (stdin...); empty lines are ignored.
void process_json_line(std::string_view line, std::string_view origin, PassiveSslStore& store,
                       InputCounters& counters);

}  // namespace d4::analyzers::tls
