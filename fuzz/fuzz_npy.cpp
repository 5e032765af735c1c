// libFuzzer entry point of harness_npy.h (the harness is shared with tests/fuzz_regression_test.cpp).
#include "harness_npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return veloxquant::fuzz_harness::fuzz_npy(data, size);
}
