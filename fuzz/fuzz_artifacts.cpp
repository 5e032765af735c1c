// libFuzzer entry point of harness_artifacts.h (the harness is shared with tests/fuzz_regression_test.cpp).
#include "harness_artifacts.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) { return veloxquant::fuzz_harness::fuzz_artifacts_init(); }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return veloxquant::fuzz_harness::fuzz_artifacts(data, size);
}
