#include "analyzers/tls/passivessl_inputs.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "core/log_fields.hpp"

namespace d4::analyzers::tls {
namespace {

namespace fs = std::filesystem;

std::string shorten(std::string_view s) {
  return s.size() > 200 ? std::string(s.substr(0, 200)) + "..." : std::string(s);
}

void reject(PassiveSslStore& store, InputCounters& n, std::string_view origin, std::string_view reason) {
  store.reject(reason);
  ++n.rejected;
  core::log_with(core::LogFields().add("origin", shorten(origin)).add(core::log_key::kReason, reason),
                 spdlog::level::warn, "{}: rejected ({})", shorten(origin), reason);
}

void add_certificate_der(std::span<const std::uint8_t> der, const std::string& origin, PassiveSslStore& store,
                         InputCounters& n) {
  auto c = certificate_from_der(der);
  if (!c) {
    reject(store, n, origin, "bad_certificate");
    return;
  }
  c->source_path = origin;
  store.add_certificate(*c);
  ++n.certificates;
}

void add_certificates_pem(std::string_view text, const std::string& origin, PassiveSslStore& store,
                          InputCounters& n) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())),
                                                BIO_free);
  std::size_t found = 0;
  while (bio) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!x) break;
    unsigned char* der = nullptr;
    int len = i2d_X509(x, &der);
    X509_free(x);
    if (len > 0) {
      add_certificate_der({der, static_cast<std::size_t>(len)}, origin, store, n);
      OPENSSL_free(der);
      ++found;
    }
  }
  ERR_clear_error();  // the end of the PEM data is reported as an error
  if (!found) reject(store, n, origin, "bad_certificate");
}

// The bytes of one file or archive member, recognised from its first non-blank byte: '{' ja3-jl
// lines (streamed line by line), 0x30 a DER certificate, anything else PEM certificates if the
// text holds a "-----BEGIN " armour.
class ItemReader {
 public:
  ItemReader(std::string origin, PassiveSslStore& store, InputCounters& n, const InputOptions& options)
      : origin_(std::move(origin)), store_(store), n_(n), options_(options) {}

  void feed(std::string_view data) {
    while (!data.empty()) {
      switch (kind_) {
        case Kind::Unknown: {
          std::size_t k = 0;
          while (k < data.size() && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r' || data[k] == '\n'))
            ++k;
          if (k == data.size()) return;  // only blanks so far
          data.remove_prefix(k);
          char first = data[0];
          // Anything else may still be PEM with text before the armour (openssl x509 -text output).
          kind_ = first == '{' ? Kind::Json : first == '\x30' ? Kind::Der : Kind::Text;
          continue;
        }
        case Kind::Json: {
          std::size_t nl = data.find('\n');
          std::string_view part = data.substr(0, nl);
          if (!too_long_) {
            if (buffer_.size() + part.size() > options_.max_line_bytes) {
              too_long_ = true;
              buffer_.clear();
              reject(store_, n_, origin_, "line_too_long");
            } else {
              buffer_.append(part);
            }
          }
          if (nl == std::string_view::npos) return;
          end_line();
          data.remove_prefix(nl + 1);
          continue;
        }
        case Kind::Text:
        case Kind::Der:
          if (buffer_.size() + data.size() > options_.max_certificate_file_bytes) {
            reject(store_, n_, origin_,
                   kind_ == Kind::Der || has_pem_armour() ? "certificate_file_too_large" : "unknown_format");
            kind_ = Kind::Rejected;
            buffer_.clear();
            return;
          }
          buffer_.append(data);
          return;
        case Kind::Rejected:
          return;
      }
    }
  }

  void finish() {
    switch (kind_) {
      case Kind::Json:
        end_line();
        break;
      case Kind::Text:
        if (has_pem_armour())
          add_certificates_pem(buffer_, origin_, store_, n_);
        else
          reject(store_, n_, origin_, "unknown_format");
        break;
      case Kind::Der:
        add_certificate_der({reinterpret_cast<const std::uint8_t*>(buffer_.data()), buffer_.size()}, origin_,
                            store_, n_);
        break;
      default:
        break;
    }
    buffer_.clear();
    if (options_.flush && store_.pending() >= options_.flush_every) options_.flush();
  }

 private:
  enum class Kind { Unknown, Json, Text, Der, Rejected };
  bool has_pem_armour() const { return buffer_.find("-----BEGIN ") != std::string::npos; }
  void end_line() {
    if (!too_long_) process_json_line(buffer_, origin_, store_, n_);
    too_long_ = false;
    buffer_.clear();
    if (options_.flush && store_.pending() >= options_.flush_every) options_.flush();
  }

  std::string origin_;
  PassiveSslStore& store_;
  InputCounters& n_;
  const InputOptions& options_;
  Kind kind_ = Kind::Unknown;
  std::string buffer_;
  bool too_long_ = false;
};

bool looks_like_archive(std::string_view head) {
  auto starts = [&](std::string_view magic) { return head.substr(0, magic.size()) == magic; };
  return starts("\x1f\x8b") || starts("BZh") ||
         starts(std::string_view("\xfd"
                                 "7zXZ\0",
                                 6)) ||
         starts("\x28\xb5\x2f\xfd") || (head.size() >= 262 && head.substr(257, 5) == "ustar");
}

void process_archive(const fs::path& path, PassiveSslStore& store, InputCounters& n,
                     const InputOptions& options) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_raw(a.get());  // a single compressed file (ndjson.gz)
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    ++n.unreadable;
    store.reject("bad_archive");
    spdlog::error("{}: {}", path.string(),
                  archive_error_string(a.get()) ? archive_error_string(a.get()) : "");
    return;
  }
  archive_entry* entry = nullptr;
  std::array<char, 1 << 16> buf;
  int st = ARCHIVE_OK;
  while ((st = archive_read_next_header(a.get(), &entry)) == ARCHIVE_OK) {
    if (archive_entry_filetype(entry) != AE_IFREG && archive_format(a.get()) != ARCHIVE_FORMAT_RAW) continue;
    const char* name = archive_entry_pathname(entry);
    ItemReader item(path.string() + ":" + (name ? name : ""), store, n, options);
    ++n.files;
    la_ssize_t got = 0;
    while ((got = archive_read_data(a.get(), buf.data(), buf.size())) > 0)
      item.feed({buf.data(), static_cast<std::size_t>(got)});
    if (got < 0) {
      st = ARCHIVE_FATAL;
      break;
    }
    item.finish();
  }
  if (st != ARCHIVE_EOF) {
    ++n.unreadable;
    store.reject("bad_archive");
    const char* err = archive_error_string(a.get());
    spdlog::error("{}: broken archive ({})", path.string(), err ? err : "unknown error");
  }
}

void process_file(const fs::path& path, PassiveSslStore& store, InputCounters& n,
                  const InputOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ++n.unreadable;
    store.reject("unreadable_file");
    spdlog::error("{}: cannot open", path.string());
    return;
  }
  std::array<char, 1 << 16> buf;
  in.read(buf.data(), buf.size());
  std::size_t got = static_cast<std::size_t>(in.gcount());
  if (looks_like_archive({buf.data(), got})) {
    in.close();
    process_archive(path, store, n, options);
    return;
  }
  ++n.files;
  ItemReader item(path.string(), store, n, options);
  while (got > 0) {
    item.feed({buf.data(), got});
    in.read(buf.data(), buf.size());
    got = static_cast<std::size_t>(in.gcount());
  }
  item.finish();
}

}  // namespace

void process_json_line(std::string_view line, std::string_view origin, PassiveSslStore& store,
                       InputCounters& n) {
  SslSessionRecord r;
  auto st = parse_ja3jl(line, r);
  if (st == RecordStatus::Ok) {
    store.add(r);
    ++n.records;
  } else if (st != RecordStatus::Empty) {
    reject(store, n, origin, to_string(st));
  }
}

void process_input(const std::string& input, PassiveSslStore& store, InputCounters& n,
                   const InputOptions& options) {
  if (!input.empty() && input.front() == '{') {
    process_json_line(input, input, store, n);
    return;
  }
  std::error_code ec;
  if (!fs::is_directory(input, ec)) {
    process_file(input, store, n, options);
    return;
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec)) files.push_back(it->path());
  if (ec) {
    ++n.unreadable;
    store.reject("unreadable_file");
    spdlog::error("{}: cannot walk the directory ({})", input, ec.message());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) process_file(f, store, n, options);
}

}  // namespace d4::analyzers::tls
