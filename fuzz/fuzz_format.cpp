// libFuzzer entry point of harness_format.h (the harness is shared with tests/fuzz_regression_test.cpp).
#include "harness_format.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return veloxquant::fuzz_harness::fuzz_format(data, size);
}
