// d4-web's sign-in lines as structured logs ([general] log_format = "json"): a wrong password and
// a successful sign-in each carry the account, the source address and the outcome as members, so
// that a log shipper can alert on failed sign-ins per account or per source.
#include <gtest/gtest.h>

#include "support/json_logs.hpp"
#include "web/web_instance.hpp"

namespace {

using d4::test::json_log_line_with;
using d4::test::json_log_lines;
using d4::webtest::kAdmin;
using d4::webtest::kFirstPassword;
using d4::webtest::WebInstance;
using d4::webtest::WebOptions;

TEST(WebJsonLogs, SignInLinesCarryUserSourceAndOutcome) {
  d4::test::JsonLogsForChildren json_logs;
  WebOptions o;
  o.admin_password = kFirstPassword;
  WebInstance web(o);
  auto c = web.client();
  EXPECT_EQ(c.login(kAdmin, "wrong-Password-99").header("Location").find("/login?"), 0u);
  EXPECT_EQ(c.login(kAdmin, kFirstPassword).status, 303);
  ASSERT_TRUE(d4::test::eventually([&] { return web.log().find("web login:") != std::string::npos; }))
      << web.log();

  auto lines = json_log_lines(web.log());
  auto failed = json_log_line_with(lines, "failed web login");
  EXPECT_EQ(failed.value("component", ""), "d4-web") << failed.dump();
  EXPECT_EQ(failed.value("user", ""), kAdmin) << failed.dump();
  EXPECT_EQ(failed.value("source", ""), "127.0.0.1") << failed.dump();
  EXPECT_EQ(failed.value("reason", ""), "wrong_password") << failed.dump();
  auto signed_in = json_log_line_with(lines, "web login:");
  EXPECT_EQ(signed_in.value("user", ""), kAdmin) << signed_in.dump();
  EXPECT_EQ(signed_in.value("source", ""), "127.0.0.1") << signed_in.dump();
  EXPECT_EQ(signed_in.value("reason", ""), "signed_in") << signed_in.dump();
}

}  // namespace
