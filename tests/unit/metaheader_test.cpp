#include <gtest/gtest.h>

#include "protocol/metaheader.hpp"

using namespace d4::protocol;

TEST(MetaHeader, ParsesTypeAndKeepsOtherFields) {
  std::string err;
  auto m = parse_meta_header(R"({"type": "ja3-jl", "tags": ["tlp:white"]})", &err);
  ASSERT_TRUE(m) << err;
  EXPECT_EQ(m->type, "ja3-jl");
  EXPECT_EQ(m->json["tags"][0], "tlp:white");
}

TEST(MetaHeader, RejectsInvalidHeadersWithReasons) {
  for (const char* bad : {"", "[]", "{}", R"({"type": 3})", R"({"type": ""})", R"({"type": "../etc"})",
                          R"({"type": "a/b"})", "{\"type\": \"x\"", "not json"}) {
    std::string err;
    EXPECT_FALSE(parse_meta_header(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(MetaHeader, AssemblesAcrossPacketsIgnoringNewlines) {
  MetaHeaderAssembler a;
  EXPECT_EQ(a.feed("{\"ty"), MetaHeaderAssembler::State::Incomplete);
  EXPECT_EQ(a.feed("pe\": \"d4-\n"), MetaHeaderAssembler::State::Incomplete);
  EXPECT_EQ(a.feed("telemetry\", \"x\": {\"}\": \"{\\\"\"}"), MetaHeaderAssembler::State::Incomplete);
  EXPECT_EQ(a.feed("}\n"), MetaHeaderAssembler::State::Complete);
  EXPECT_EQ(a.result().type, "d4-telemetry");
  EXPECT_EQ(a.result().json["x"]["}"], "{\"");
}

TEST(MetaHeader, AssemblerBoundsAndErrors) {
  MetaHeaderAssembler small(16);
  EXPECT_EQ(small.feed("{\"type\": \"aaaaaaaaaaaaaaaaaaaaaaa\"}"), MetaHeaderAssembler::State::Error);
  MetaHeaderAssembler notobj;
  EXPECT_EQ(notobj.feed("[1,2]"), MetaHeaderAssembler::State::Error);
  MetaHeaderAssembler notype;
  EXPECT_EQ(notype.feed("{\"a\": 1}"), MetaHeaderAssembler::State::Error);
  EXPECT_NE(notype.error().find("type"), std::string::npos);
}

TEST(MetaHeader, AssemblerCountsWhitespaceAndNewlinesTowardsTheLimit) {
  // Blanks before the object and newlines inside it used to be skipped without being counted,
  // so megabytes of them were accepted as one "incomplete" header.
  MetaHeaderAssembler blanks(1000);
  EXPECT_EQ(blanks.feed(std::string(999, ' ')), MetaHeaderAssembler::State::Incomplete);
  EXPECT_EQ(blanks.feed("  "), MetaHeaderAssembler::State::Error);
  EXPECT_NE(blanks.error().find("whitespace"), std::string::npos) << blanks.error();
  MetaHeaderAssembler newlines(1000);
  EXPECT_EQ(newlines.feed("{\"type\": \"x\"" + std::string(990, '\n')), MetaHeaderAssembler::State::Error);
  // A header of exactly the limit, blanks included, is accepted.
  MetaHeaderAssembler exact(100);
  std::string h = "{\"type\": \"x\"}";
  EXPECT_EQ(exact.feed(std::string(100 - h.size(), '\n') + h), MetaHeaderAssembler::State::Complete);
  EXPECT_EQ(exact.received(), 100u);
}

TEST(MetaHeader, DeepNestingIsRefused) {
  std::string deep = "{\"type\": \"x\", \"a\": " + std::string(40, '[') + std::string(40, ']') + "}";
  MetaHeaderAssembler a;
  EXPECT_EQ(a.feed(deep), MetaHeaderAssembler::State::Error);
  EXPECT_NE(a.error().find("deeper"), std::string::npos);
  std::string err;
  EXPECT_FALSE(parse_meta_header(deep, &err));
  EXPECT_NE(err.find("deeper"), std::string::npos);
  std::string ok = "{\"type\": \"x\", \"a\": " + std::string(20, '[') + std::string(20, ']') + "}";
  EXPECT_TRUE(parse_meta_header(ok));
}
