// Drives the framer fuzz entry in every build (without libFuzzer): the reference streams, every
// truncation of a short stream, and seeded random mutations of them.
#include <gtest/gtest.h>

#include <random>

#include "support/bytes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

TEST(FramerFuzzCorpus, ReferenceStreamsAndMutations) {
  std::mt19937 rng(20261125);
  for (const char* name :
       {"c-client-type1-dns.d4", "c-client-type3-log.d4", "c-client-type8-passivedns.d4"}) {
    auto stream = d4::test::read_file(d4::test::vector_path(name));
    for (int s : {0, 1, 16, 63, 96}) {
      auto step = static_cast<std::uint8_t>(s);
      std::vector<std::uint8_t> in{step, 1};
      in.insert(in.end(), stream.begin(), stream.end());
      LLVMFuzzerTestOneInput(in.data(), in.size());
    }
    for (int i = 0; i < 300; ++i) {
      std::vector<std::uint8_t> in{static_cast<std::uint8_t>(rng())};
      in.insert(in.end(), stream.begin(), stream.end());
      int flips = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < flips; ++k)
        in[1 + rng() % (in.size() - 1)] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      in.resize(1 + rng() % in.size());
      LLVMFuzzerTestOneInput(in.data(), in.size());
    }
  }
  auto small = d4::test::read_file(d4::test::vector_path("c-client-type3-log.d4"));
  for (std::size_t cut = 0; cut <= small.size(); ++cut) {
    std::vector<std::uint8_t> in{7};
    in.insert(in.end(), small.begin(), small.begin() + static_cast<std::ptrdiff_t>(cut));
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  SUCCEED();
}
