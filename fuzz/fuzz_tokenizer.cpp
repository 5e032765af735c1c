// libFuzzer entry point of harness_tokenizer.h (the harness is shared with tests/fuzz_regression_test.cpp).
#include "harness_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return veloxquant::fuzz_harness::fuzz_tokenizer(data, size);
}
