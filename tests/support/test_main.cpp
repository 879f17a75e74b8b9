// main() of every test executable. GoogleTest reports the tests of a suite whose SetUpTestSuite()
// failed (e.g. a server that did not start) as SKIPPED, and CTest turns "[  SKIPPED ]" into a
// skipped test: a broken fixture would look like a harmless skip. This listener makes such a
// failure end the run at once with a failing exit status instead, before any test of that suite
// is reported as skipped.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace {

class FailOnSuiteSetUpFailure : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo& test) override {
    const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    if (suite == nullptr || !suite->ad_hoc_test_result().Failed()) return;
    std::printf("[  FAILED  ] %s: SetUpTestSuite() failed before %s.%s could run (see above)\n",
                suite->name(), test.test_suite_name(), test.name());
    std::fflush(stdout);
    std::_Exit(1);
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new FailOnSuiteSetUpFailure);
  return RUN_ALL_TESTS();
}
