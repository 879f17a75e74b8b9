#pragma once
// Builds DNS messages byte by byte for the parser tests (names optionally compressed).
#include <cstdint>
#include <string>
#include <vector>

#include "helpers.hpp"

namespace d4::test::an {

class DnsBuilder {
 public:
  DnsBuilder(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an, std::uint16_t ns = 0,
             std::uint16_t ar = 0) {
    put16(b_, id);
    put16(b_, flags);
    put16(b_, qd);
    put16(b_, an);
    put16(b_, ns);
    put16(b_, ar);
  }
  // Writes a name label by label (no compression); returns its offset.
  std::size_t name(const std::string& n) {
    std::size_t off = b_.size();
    std::size_t pos = 0;
    while (pos < n.size()) {
      std::size_t dot = n.find('.', pos);
      std::string label = n.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
      b_.push_back(static_cast<std::uint8_t>(label.size()));
      b_.insert(b_.end(), label.begin(), label.end());
      if (dot == std::string::npos) break;
      pos = dot + 1;
    }
    b_.push_back(0);
    return off;
  }
  // Labels followed by a compression pointer.
  std::size_t name_then_pointer(const std::string& labels, std::size_t target) {
    std::size_t off = b_.size();
    std::size_t pos = 0;
    while (pos < labels.size()) {
      std::size_t dot = labels.find('.', pos);
      std::string label = labels.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
      b_.push_back(static_cast<std::uint8_t>(label.size()));
      b_.insert(b_.end(), label.begin(), label.end());
      if (dot == std::string::npos) break;
      pos = dot + 1;
    }
    pointer(target);
    return off;
  }
  void pointer(std::size_t target) {
    b_.push_back(static_cast<std::uint8_t>(0xC0 | (target >> 8)));
    b_.push_back(static_cast<std::uint8_t>(target));
  }
  void question(const std::string& n, std::uint16_t type) {
    name(n);
    put16(b_, type);
    put16(b_, 1);
  }
  // Resource record header with the owner given as a pointer; returns the rdata offset.
  std::size_t rr_header_ptr(std::size_t owner, std::uint16_t type, std::uint32_t ttl,
                            std::uint16_t rdlength) {
    pointer(owner);
    put16(b_, type);
    put16(b_, 1);
    put32(b_, ttl);
    put16(b_, rdlength);
    return b_.size();
  }
  // A whole record whose rdata is `rdata` verbatim.
  void rr(std::size_t owner, std::uint16_t type, std::uint32_t ttl, const Bytes& rdata) {
    rr_header_ptr(owner, type, ttl, static_cast<std::uint16_t>(rdata.size()));
    append(b_, rdata);
  }
  // A record whose rdata is built by `fill` (which may use compression); the length is patched.
  template <typename F>
  void rr_with(std::size_t owner, std::uint16_t type, std::uint32_t ttl, F fill) {
    std::size_t start = rr_header_ptr(owner, type, ttl, 0);
    fill(*this);
    std::size_t len = b_.size() - start;
    b_[start - 2] = static_cast<std::uint8_t>(len >> 8);
    b_[start - 1] = static_cast<std::uint8_t>(len);
  }
  Bytes& bytes() { return b_; }
  std::size_t size() const { return b_.size(); }

 private:
  Bytes b_;
};

// Wire form of a name without compression.
inline Bytes wire_name(const std::string& n) {
  DnsBuilder tmp(0, 0, 0, 0);
  std::size_t off = tmp.name(n);
  return Bytes(tmp.bytes().begin() + static_cast<std::ptrdiff_t>(off), tmp.bytes().end());
}

// A response with one question and one answer of the given type and rdata.
inline Bytes simple_response(const std::string& qname, std::uint16_t type, const Bytes& rdata,
                             std::uint32_t ttl = 300, std::uint16_t id = 1) {
  DnsBuilder b(id, 0x8180, 1, 1);
  std::size_t q = b.size();
  b.question(qname, type);
  b.rr(q, type, ttl, rdata);
  return b.bytes();
}

}  // namespace d4::test::an
