// The session handler registry (src/workers/handlers/registry.*): which types d4-worker serves by
// default, and that each type gets the handler that reads its own streams.
#include <gtest/gtest.h>

#include <set>

#include "workers/handlers/registry.hpp"

namespace d4::workers {
namespace {

using protocol::PacketType;

TEST(HandlerRegistry, ServesTypesOneToEightInOrderOnce) {
  std::vector<int> types;
  for (auto t : registered_types()) types.push_back(static_cast<int>(t));
  EXPECT_EQ(types, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  std::set<int> unique(types.begin(), types.end());
  EXPECT_EQ(unique.size(), session_handlers().size());
}

TEST(HandlerRegistry, ExtendedAndUnassignedTypesHaveNoHandler) {
  WorkerSettings settings;
  for (auto t : {PacketType::Reserved, PacketType::Extended, static_cast<PacketType>(9)}) {
    EXPECT_FALSE(has_session_handler(t)) << static_cast<int>(t);
    EXPECT_EQ(make_session_handler(t, settings), nullptr) << static_cast<int>(t);
  }
}

TEST(HandlerRegistry, EachHandlerReadsTheStreamsOfItsType) {
  WorkerSettings settings;
  for (auto t : registered_types()) {
    auto h = make_session_handler(t, settings);
    ASSERT_NE(h, nullptr) << static_cast<int>(t);
    int type = static_cast<int>(t);
    EXPECT_EQ(h->current_stream(), type);
    auto expected = t == PacketType::MetaHeader ? std::vector<int>{2, 254} : std::vector<int>{type};
    EXPECT_EQ(h->streams(), expected) << type;
    EXPECT_FALSE(h->failed()) << type;
  }
}

TEST(HandlerRegistry, CaptureTypesQueueTheirCompressedArchives) {
  WorkerSettings settings;
  EXPECT_EQ(make_session_handler(PacketType::Pcap, settings)->compressed_file_target(), "1");
  EXPECT_EQ(make_session_handler(PacketType::Pcapng, settings)->compressed_file_target(), "5");
  EXPECT_EQ(make_session_handler(PacketType::LogLine, settings)->compressed_file_target(), std::nullopt);
}

}  // namespace
}  // namespace d4::workers
