// libFuzzer entry point of harness_gguf.h (the harness is shared with tests/fuzz_regression_test.cpp).
#include "harness_gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return veloxquant::fuzz_harness::fuzz_gguf(data, size);
}
