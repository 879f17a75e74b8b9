// Each organisation's MISP feed served by d4-web (docs/sharing.md#serving-the-feed-from-d4-web):
// the directories d4-misp-feed writes (<feed_dir>/<organisation uuid>/manifest.json, hashes.csv,
// <event uuid>.json) fetched over real HTTPS with the header a MISP instance sends
// ("Authorization: <API token>"): the caller's organisation's files only, nothing else.
#include <gtest/gtest.h>

#include <vector>

#include "support/process.hpp"
#include "web_fixture.hpp"

using d4::webtest::Client;
using nlohmann::json;

namespace {

struct FeedOrg {
  std::string name, uuid, event;
};
const FeedOrg kFeedA{"Feed org A", "5c1a3b5e-0000-4000-8000-0000000000aa",
                     "0b6f8e5a-1c2d-5e3f-8a9b-0c1d2e3f4a5b"};
const FeedOrg kFeedB{"Feed org B", "5c1a3b5e-0000-4000-8000-0000000000bb",
                     "1b6f8e5a-1c2d-5e3f-8a9b-0c1d2e3f4a5b"};

std::string manifest_of(const FeedOrg& o) {
  return json{{o.event, {{"info", "D4 passive DNS of " + o.name}, {"Orgc", {{"uuid", o.uuid}}}}}}.dump();
}

TEST(WebMispFeed, EachOrganisationPullsItsOwnFeedWithATokenHeader) {
  d4::test::TempDir feed;
  for (const auto* o : {&kFeedA, &kFeedB}) {
    std::filesystem::create_directories(feed / o->uuid);
    d4::test::write_text(feed / o->uuid / "manifest.json", manifest_of(*o));
    d4::test::write_text(feed / o->uuid / "hashes.csv", o->event + ",d41d8cd98f00b204e9800998ecf8427e\n");
    d4::test::write_text(feed / o->uuid / (o->event + ".json"), json{{"Event", {{"uuid", o->event}}}}.dump());
  }
  auto web = d4::webtest::start_web("\n[sharing.misp]\nfeed_dir = \"" + feed.path().string() + "\"\n");
  d4::webtest::SignedInAdmin site(*web);
  Client& admin = site.session;
  for (const auto* o : {&kFeedA, &kFeedB})
    ASSERT_EQ(admin.call("POST", "/api/v1/organisations", {{"name", o->name}, {"uuid", o->uuid}}).status,
              200);
  // An account without a password, for its API token only.
  auto token = d4::webtest::create_user(admin, "misp@a.test", {"user", "", kFeedA.uuid});

  // What MISP sends: the feed URL plus the file name, and the configured header.
  Client misp = web->client();
  auto get = [&](const std::string& file) {
    return misp.get("/api/v1/misp-feed/" + file, {{"Authorization", token}});
  };
  auto manifest = get("manifest.json");
  ASSERT_EQ(manifest.status, 200) << manifest.body;
  EXPECT_EQ(manifest.body, manifest_of(kFeedA));
  EXPECT_EQ(manifest.header("Content-Type").rfind("application/json", 0), 0u);
  auto hashes = get("hashes.csv");
  EXPECT_EQ(hashes.status, 200);
  EXPECT_EQ(hashes.header("Content-Type").rfind("text/csv", 0), 0u);
  EXPECT_EQ(json::parse(get(kFeedA.event + ".json").body)["Event"]["uuid"], kFeedA.event);
  // Another organisation's event answers like a missing one; no other file or path is served.
  auto foreign = get(kFeedB.event + ".json"), missing = get("2b6f8e5a-1c2d-5e3f-8a9b-0c1d2e3f4a5b.json");
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.body, missing.body);
  for (const std::string& bad :
       std::vector<std::string>{"..%2F" + kFeedB.uuid + "%2Fmanifest.json", "%2E%2E", "d4.toml",
                                "MANIFEST.json", kFeedA.event.substr(0, 35) + "x.json"})
    EXPECT_EQ(get(bad).status, 404) << bad;
  EXPECT_EQ(get("manifest.json?org=" + kFeedB.uuid).body, manifest_of(kFeedA))
      << "only administrators choose";
  EXPECT_EQ(misp.get("/api/v1/misp-feed/manifest.json").status, 401);
  // An administrator reads any organisation's feed.
  Client a = d4::webtest::bearer_client(*web, site.token);
  EXPECT_EQ(a.get("/api/v1/misp-feed/manifest.json?org=" + kFeedB.uuid).body, manifest_of(kFeedB));
}

}  // namespace
