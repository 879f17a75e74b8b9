// Fuzz entry for the type-7 IPFIX decoder: message framing at arbitrary read sizes, set and
// template parsing with a small template budget, and the JSON rendering of every record (which
// must parse back). Built as a libFuzzer target with clang (-DD4_FUZZ=ON); the CTest-run mutation
// test IpfixFuzz.MutatedMessagesNeverCrashAndAlwaysGiveJson covers it in every build.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "workers/ipfix/decoder.hpp"
#include "workers/ipfix/record_json.hpp"

namespace {
using namespace d4::workers::ipfix;

struct Sink : RecordSink {
  explicit Sink(const RecordRenderer& r) : renderer(r) {}
  const RecordRenderer& renderer;
  std::string json;
  void on_record(const MessageHeader& h, const Template& t, std::string_view record) override {
    json.clear();
    renderer.render(json, "sensor", h, t, record);
    if (!nlohmann::json::accept(json)) std::abort();  // every record must be valid JSON
  }
  void on_issue(std::string_view, std::string) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t step = 1 + data[0] % 251;  // the first byte picks the read size
  ++data;
  --size;
  static auto model = InformationModel::standard();
  MessageFramer framer;
  MessageDecoder decoder(model, TemplateLimits{32, 8192});
  RecordRenderer renderer(decoder.templates(), decoder.model());
  Sink sink(renderer);
  for (std::size_t pos = 0; pos < size; pos += step) {
    std::string_view piece(reinterpret_cast<const char*>(data) + pos, std::min(step, size - pos));
    if (!framer.feed(piece, [&](std::string_view m) { decoder.decode(m, sink); })) break;
  }
  if (framer.buffered() > 65535) std::abort();
  return 0;
}
