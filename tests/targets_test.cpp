// kernels/targets.h: VELOXQUANT_TARGET restricts the process. The variable is read once per
// process, so this test checks whatever the environment says; CMake also runs the cache and
// kernel suites once more with VELOXQUANT_TARGET=avx2 (veloxquant_tests_avx2 in CMakeLists.txt),
// where the AVX2 block kernels serve a CPU that has AVX-512.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdlib>
#include <string>

#include "kernels/code_kernels.h"
#include "kernels/kernels.h"
#include "kernels/targets.h"
#include "veloxquant/quantizer.h"

namespace veloxquant::kernels {
namespace {

using veloxquant::make_quantizer;

TEST(Targets, TheEnvironmentVariableIsObeyed) {
  const char* env = std::getenv("VELOXQUANT_TARGET");
  const std::string target = env ? env : "";
  if (target == "avx2") {
    if ((supported_targets() & HWY_AVX2) == 0) GTEST_SKIP() << "this CPU has no AVX2";
    EXPECT_EQ(active_target_name(), "AVX2");
    EXPECT_STREQ(code_kernels_name(), "avx2");
    EXPECT_TRUE(score_blocks_fast());
  } else if (target == "sse4" || target == "scalar") {
    EXPECT_STREQ(code_kernels_name(), "portable");
    EXPECT_FALSE(score_blocks_fast());
  }
}

// The hand-written kernels follow Highway's test hook as its own dispatch does, and a quantizer
// keeps the page layout it was made with when the hook changes afterwards.
TEST(Targets, HighwaysTestHookRestrictsTheCodeKernels) {
  if ((supported_targets() & HWY_AVX2) == 0) GTEST_SKIP() << "this CPU has no AVX2";
  const auto tq3 = make_quantizer("tq3", 128, 1);
  const std::size_t block = tq3->block_records();
  hwy::SetSupportedTargetsForTest(HWY_AVX2);
  EXPECT_STREQ(code_kernels_name(), "avx2");
  EXPECT_TRUE(score_blocks_fast());
  hwy::SetSupportedTargetsForTest(HWY_SSE4);
  EXPECT_STREQ(code_kernels_name(), "portable");
  EXPECT_FALSE(score_blocks_fast());
  EXPECT_EQ(make_quantizer("tq3", 128, 1)->block_records(), 1u);
  EXPECT_EQ(tq3->block_records(), block);
  hwy::SetSupportedTargetsForTest(0);  // back to what the CPU and restrict_targets allow
  EXPECT_EQ(make_quantizer("tq3", 128, 1)->block_records(), block);
}

TEST(Targets, UnknownNamesAreRefusedNamingThem) {
  try {
    restrict_targets("avx9000");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'avx9000'"), std::string::npos) << e.what();
  }
  restrict_targets("native");  // changes nothing
}

}  // namespace
}  // namespace veloxquant::kernels
