// Fuzz entry for the D4 stream framer, header decoder and meta-header assembler. Built as a
// libFuzzer target with clang (-DD4_FUZZ=ON) and, in every build, driven by a GoogleTest over
// the reference streams plus random mutations (tests/unit/fuzz_corpus_test.cpp).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/framer.hpp"
#include "protocol/metaheader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace d4::protocol;
  if (size == 0) return 0;
  // The first byte picks the read size so that every split pattern gets exercised.
  std::size_t step = 1 + data[0] % 97;
  ++data;
  --size;
  FramerOptions o;
  o.max_payload = 1 << 16;
  Framer f(o);
  if (size > 0 && (data[0] & 1)) f.set_key(HmacKey("d4-test-key"));
  std::size_t total = 0;
  Packet p;
  for (std::size_t pos = 0; pos < size; pos += step) {
    std::size_t n = std::min(step, size - pos);
    f.feed({data + pos, n});
    for (;;) {
      auto st = f.next(p);
      if (st != Framer::Status::Ready) break;
      // Invariants: the payload lies inside the packet and matches the header.
      if (p.payload.size() != p.header.size || p.raw.size() != kHeaderSize + p.header.size) __builtin_trap();
      total += p.raw.size();
      if (p.header.type == 2) {
        MetaHeaderAssembler m;
        m.feed(std::string_view(reinterpret_cast<const char*>(p.payload.data()), p.payload.size()));
      }
    }
    if (f.error() != FrameError::None) break;
  }
  if (f.error() == FrameError::None) {
    f.finish();
    if (total != f.bytes_consumed()) __builtin_trap();
  }
  return 0;
}
