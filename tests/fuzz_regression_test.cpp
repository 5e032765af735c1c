// Replays the fuzzers' seed corpora (fuzz/corpus/<target>/) and every input a fuzzer once
// crashed on (fuzz/regressions/<target>/) through the same harnesses, in the normal test build.
// A harness aborts on a broken invariant and lets unexpected exception types escape.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "harness_artifacts.h"
#include "harness_cache_file.h"
#include "harness_decode.h"
#include "harness_format.h"
#include "harness_gguf.h"
#include "harness_npy.h"
#include "harness_tokenizer.h"

namespace veloxquant {
namespace {

namespace fs = std::filesystem;

using Harness = int (*)(const std::uint8_t*, std::size_t);

// Runs every file of fuzz/{corpus,regressions}/<target>/; returns how many there were.
std::size_t replay(const std::string& target, Harness harness) {
  std::size_t files = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(VELOXQUANT_SOURCE_DIR) / "fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::ifstream f(entry.path(), std::ios::binary);
      const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      SCOPED_TRACE(entry.path().string());
      harness(bytes.data(), bytes.size());
      ++files;
    }
  }
  return files;
}

TEST(FuzzRegression, Gguf) { EXPECT_GT(replay("gguf", fuzz_harness::fuzz_gguf), 0u); }
TEST(FuzzRegression, Npy) { EXPECT_GT(replay("npy", fuzz_harness::fuzz_npy), 0u); }
TEST(FuzzRegression, CacheFile) { EXPECT_GT(replay("cache_file", fuzz_harness::fuzz_cache_file), 0u); }
TEST(FuzzRegression, Format) { EXPECT_GT(replay("format", fuzz_harness::fuzz_format), 0u); }
TEST(FuzzRegression, Decode) { EXPECT_GT(replay("decode", fuzz_harness::fuzz_decode), 0u); }
TEST(FuzzRegression, Tokenizer) { EXPECT_GT(replay("tokenizer", fuzz_harness::fuzz_tokenizer), 0u); }
TEST(FuzzRegression, Artifacts) {
  fuzz_harness::fuzz_artifacts_init();
  EXPECT_GT(replay("artifacts", fuzz_harness::fuzz_artifacts), 0u);
}

}  // namespace
}  // namespace veloxquant
