// Session files (.tokens + .vqkv): save → scan → load round trip, and every damaged, truncated,
// foreign or mismatched file refused with a message naming the problem.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cache/persist.h"
#include "io/crc32.h"
#include "io/file_error.h"
#include "math/prng.h"
#include "server/session_files.h"

namespace veloxquant::server {
namespace {

CacheConfig config() {
  CacheConfig c;
  c.layers = 2;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.head_dim = 16;
  c.key_format = "tq4";
  c.value_format = "tq3";
  c.window = 0;
  c.sinks = 4;
  return c;
}

KVCache filled(std::size_t n) {
  KVCache cache(config());
  SplitMix64 rng(5);
  std::vector<float> k(n * 2 * 16), v(k.size());
  for (float& x : k) x = static_cast<float>(rng.normal());
  for (float& x : v) x = static_cast<float>(rng.normal());
  for (std::size_t l = 0; l < 2; ++l) cache.append(l, n, k.data(), v.data());
  return cache;
}

std::vector<std::uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

class ServerSessionFiles : public ::testing::Test {
 protected:
  void SetUp() override { std::filesystem::remove_all(dir_); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string message(const SessionDir& d, const std::vector<std::uint8_t>& image) {
    try {
      d.parse_tokens(image.data(), image.size(), "x.tokens");
    } catch (const FileFormatError& e) {
      return e.what();
    }
    return "accepted";
  }
  const std::string dir_ =
      (std::filesystem::temp_directory_path() / ("vq_session_files_" + std::to_string(::getpid()))).string();
};

TEST_F(ServerSessionFiles, SaveScanLoadRoundTrip) {
  const SessionDir d(dir_, 0xABCDu, config(), 100, 1000);
  const KVCache cache = filled(37);
  std::vector<std::int32_t> tokens(37);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int32_t>(i * 3 % 100);
  const SavedSession s = d.save(0x1234, tokens, cache);
  std::vector<std::string> problems;
  const std::vector<SavedSession> found = d.scan(problems);
  ASSERT_TRUE(problems.empty()) << problems[0];
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, 0x1234u);
  EXPECT_EQ(found[0].tokens, tokens);
  const KVCache back = d.load(found[0]);
  EXPECT_EQ(serialize_cache(back), serialize_cache(cache));
  EXPECT_EQ(s.cache_bytes, std::filesystem::file_size(dir_ + "/0000000000001234.vqkv"));
  d.remove(0x1234);
  EXPECT_TRUE(d.scan(problems).empty());
}

TEST_F(ServerSessionFiles, RefusesDamagedAndForeignFiles) {
  const SessionDir d(dir_, 0xABCDu, config(), 100, 1000);
  const std::vector<std::int32_t> tokens = {1, 5, 9, 13, 99};
  d.save(7, tokens, filled(5));
  const std::string path = dir_ + "/0000000000000007.tokens";
  const std::vector<std::uint8_t> good = read_all(path);
  EXPECT_EQ(message(d, good), "accepted");
  for (std::size_t n : {std::size_t{0}, std::size_t{10}, std::size_t{47}, std::size_t{51}, good.size() - 1})
    EXPECT_NE(message(d, std::vector<std::uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n))),
              "accepted")
        << "truncated to " << n;
  for (std::size_t at = 0; at < good.size(); at += 3) {
    std::vector<std::uint8_t> bad = good;
    bad[at] ^= 0x10;
    EXPECT_NE(message(d, bad), "accepted") << "bit flipped at " << at;
  }
  // Valid checksums around wrong contents: another version, another model, a token outside the
  // vocabulary, a count that does not match the size.
  const auto with_crc = [](std::vector<std::uint8_t> b) {
    const std::uint32_t crc = crc32(b.data(), b.size() - 4);
    std::memcpy(b.data() + b.size() - 4, &crc, 4);
    return b;
  };
  std::vector<std::uint8_t> v2 = good;
  v2[8] = 2;
  EXPECT_NE(message(d, with_crc(v2)).find("unsupported format version 2"), std::string::npos);
  const SessionDir other_model(dir_, 0x1111u, config(), 100, 1000);
  EXPECT_NE(message(other_model, good).find("another model"), std::string::npos);
  std::vector<std::uint8_t> big_id = good;
  big_id[48 + 4 * 4] = 100;  // the last token: 100 ≥ vocab
  EXPECT_NE(message(d, with_crc(big_id)).find("outside the vocabulary"), std::string::npos);
  std::vector<std::uint8_t> count = good;
  count[24] = 9;
  EXPECT_NE(message(d, with_crc(count)).find("not the header and 9 token ids"), std::string::npos);
  const SessionDir short_ctx(dir_, 0xABCDu, config(), 100, 4);
  EXPECT_NE(message(short_ctx, good).find("the server's context"), std::string::npos);

  // A .vqkv that is not the one its .tokens names, or of another cache configuration.
  std::vector<std::string> problems;
  const SavedSession s = d.scan(problems).at(0);
  const std::string cache_path = dir_ + "/0000000000000007.vqkv";
  std::vector<std::uint8_t> cache = read_all(cache_path);
  cache[cache.size() / 2] ^= 1;
  write_all(cache_path, cache);
  EXPECT_THROW(d.load(s), FileFormatError);
  CacheConfig other = config();
  other.value_format = "tq4";
  const SessionDir other_cache(dir_, 0xABCDu, other, 100, 1000);
  other_cache.save(8, tokens, filled(5));  // written with tq3 values, read by a tq4 server
  const std::vector<SavedSession> found = other_cache.scan(problems);
  ASSERT_EQ(found.size(), 2u);
  try {
    other_cache.load(found[1]);
    FAIL();
  } catch (const FileFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("another cache configuration"), std::string::npos) << e.what();
  }
  // Per-layer formats are part of the configuration too.
  CacheConfig layered = config();  // what the file holds, but for layer 0's keys
  layered.layer_key_formats = {"q8", ""};
  const SessionDir layered_cache(dir_, 0xABCDu, layered, 100, 1000);
  try {
    layered_cache.load(found[1]);
    FAIL();
  } catch (const FileFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0: key format of a layer 'tq4' (server: 'q8')"), std::string::npos)
        << e.what();
  }
  // A .tokens without its .vqkv is reported by scan.
  std::filesystem::remove(dir_ + "/0000000000000008.vqkv");
  problems.clear();
  EXPECT_EQ(d.scan(problems).size(), 1u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("missing"), std::string::npos);
}

}  // namespace
}  // namespace veloxquant::server
