// kernels/targets.h: VELOXQUANT_TARGET restricts the process. The variable is read once per
// process, so this test checks whatever the environment says; CMake also runs the cache and
// kernel suites once more with VELOXQUANT_TARGET=avx2 (veloxquant_tests_avx2 in CMakeLists.txt),
// where the AVX2 block kernels serve a CPU that has AVX-512.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdlib>
#include <string>

#include "kernels/kernels.h"
#include "kernels/targets.h"

namespace veloxquant::kernels {
namespace {

TEST(Targets, TheEnvironmentVariableIsObeyed) {
  const char* env = std::getenv("VELOXQUANT_TARGET");
  const std::string target = env ? env : "";
  if (target == "avx2") {
    if ((hwy::SupportedTargets() & HWY_AVX2) == 0) GTEST_SKIP() << "this CPU has no AVX2";
    EXPECT_EQ(active_target_name(), "AVX2");
    EXPECT_FALSE(avx512_allowed());
    EXPECT_TRUE(block_layout_allowed());
    EXPECT_TRUE(score_blocks_fast());
  } else if (target == "sse4" || target == "scalar") {
    EXPECT_FALSE(avx512_allowed());
    EXPECT_FALSE(block_layout_allowed());
    EXPECT_FALSE(score_blocks_fast());
  } else if (target.empty() || target == "native") {
    EXPECT_TRUE(avx512_allowed());
    EXPECT_TRUE(block_layout_allowed());
  }
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
