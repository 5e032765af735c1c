#include "cache/persist.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cache/persist_format.h"
#include "io/crc32.h"
#include "io/file_error.h"
#include "math/prng.h"

namespace veloxquant {
namespace {

namespace fs = std::filesystem;

std::vector<float> normal(std::size_t n, std::uint64_t seed) {
  SplitMix64 g(seed);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(g.normal());
  return x;
}

CacheConfig small_config() {
  CacheConfig c;
  c.layers = 2;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.head_dim = 64;
  c.key_format = "tq3";
  c.value_format = "tq2";
  c.window = 16;
  c.sinks = 2;
  c.page_tokens = 8;
  c.seed = 1234;
  return c;
}

// Appends `tokens` tokens to every layer in uneven chunks (so the ring wraps and pages fill partly).
void fill(KVCache& cache, std::size_t tokens, std::uint64_t seed) {
  const CacheConfig& c = cache.config();
  const std::size_t width = c.kv_heads * c.head_dim;
  for (std::size_t l = 0; l < c.layers; ++l) {
    std::size_t done = 0, chunk = 1;
    while (done < tokens) {
      const std::size_t n = std::min(chunk, tokens - done);
      const auto k = normal(n * width, seed + 7 * l + done), v = normal(n * width, seed + 1000 + 7 * l + done);
      cache.append(l, n, k.data(), v.data());
      done += n;
      chunk = chunk * 2 + 1;
    }
  }
}

std::vector<float> attend(const KVCache& cache, std::size_t layer, std::size_t nq, std::uint64_t seed) {
  const CacheConfig& c = cache.config();
  const auto q = normal(nq * c.q_heads * c.head_dim, seed);
  std::vector<float> out(q.size());
  cache.attend(layer, nq, q.data(), out.data());
  return out;
}

void expect_same_behaviour(KVCache& a, KVCache& b) {
  ASSERT_EQ(a.config().layers, b.config().layers);
  EXPECT_EQ(a.memory_bytes(), b.memory_bytes());
  for (std::size_t l = 0; l < a.config().layers; ++l) {
    ASSERT_EQ(a.size(l), b.size(l));
    const std::size_t nq = std::min<std::size_t>(3, a.size(l));
    if (nq > 0) {
      EXPECT_EQ(attend(a, l, nq, 99 + l), attend(b, l, nq, 99 + l)) << "layer " << l;
    }
  }
  // And they keep behaving the same as tokens arrive.
  fill(a, 21, 555);
  fill(b, 21, 555);
  EXPECT_EQ(serialize_cache(a), serialize_cache(b));
  for (std::size_t l = 0; l < a.config().layers; ++l) EXPECT_EQ(attend(a, l, 4, 7 + l), attend(b, l, 4, 7 + l));
}

std::string load_error(const std::vector<std::uint8_t>& image) {
  try {
    parse_cache(image);
  } catch (const FileFormatError& e) {
    return e.what();
  }
  return "";
}

// Offsets of the sections of an image: (offset, payload size).
std::vector<std::pair<std::size_t, std::size_t>> sections_of(const std::vector<std::uint8_t>& image) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t at = persist::kHeaderBytes;
  while (at < image.size()) {
    std::uint64_t size;
    std::memcpy(&size, image.data() + at + 8, 8);
    out.emplace_back(at, size);
    at += 16 + size + 4;
  }
  return out;
}

void fix_section_crc(std::vector<std::uint8_t>& image, std::size_t section) {
  const auto [at, size] = sections_of(image)[section];
  const std::uint32_t crc = crc32(image.data() + at, 16 + size);
  std::memcpy(image.data() + at + 16 + size, &crc, 4);
}

void fix_header_crc(std::vector<std::uint8_t>& image) {
  const std::uint32_t crc = crc32(image.data(), 28);
  std::memcpy(image.data() + 28, &crc, 4);
}

TEST(Persist, SaveLoadSaveIsIdenticalAndTheLoadedCacheAttendsExactly) {
  KVCache cache(small_config());
  fill(cache, 45, 1);
  const auto image = serialize_cache(cache);
  KVCache loaded = parse_cache(image);
  EXPECT_EQ(serialize_cache(loaded), image);
  expect_same_behaviour(cache, loaded);
}

TEST(Persist, OutliersEvictionHalfPrecisionWindowAndProdFormats) {
  CacheConfig c = small_config();
  c.key_format = "tq2.5";
  c.value_format = "tqp3";
  c.exact_format = "f16";
  c.max_tokens = 30;
  c.calibration_tokens = 8;
  KVCache cache(c);
  fill(cache, 53, 2);
  const auto image = serialize_cache(cache);
  KVCache loaded = parse_cache(image);
  EXPECT_EQ(serialize_cache(loaded), image);
  expect_same_behaviour(cache, loaded);
}

TEST(Persist, EmptyAndSinkOnlyAndTruncatedCaches) {
  for (std::size_t tokens : {0, 1, 2, 17}) {
    KVCache cache(small_config());
    fill(cache, tokens, 3);
    if (tokens == 17) cache.truncate(5);  // pages freed, ring left allocated
    const auto image = serialize_cache(cache);
    KVCache loaded = parse_cache(image);
    EXPECT_EQ(serialize_cache(loaded), image) << tokens;
    expect_same_behaviour(cache, loaded);
  }
}

TEST(Persist, FileSaveIsAtomicAndPrefixSaveKeepsTheFirstTokens) {
  const fs::path dir = fs::temp_directory_path() / ("vq_persist_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "cache.vqkv").string();
  KVCache cache(small_config());
  fill(cache, 40, 4);
  save_cache(cache, path);
  save_cache(cache, path);  // replacing an existing file
  EXPECT_TRUE(is_cache_file(path));
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);  // no temporary left behind
  KVCache loaded = load_cache(path);
  EXPECT_EQ(serialize_cache(loaded), serialize_cache(cache));

  const CacheFileInfo info = inspect_cache_file(path);
  EXPECT_EQ(info.version, kCacheFileVersionPlain);  // no soft-capping, windows or eviction
  EXPECT_EQ(info.file_bytes, fs::file_size(path));
  EXPECT_EQ(info.config.key_format, "tq3");
  EXPECT_EQ(info.layer_tokens, (std::vector<std::size_t>{40, 40}));
  ASSERT_EQ(info.sections.size(), 4u);
  for (const CacheFileSection& s : info.sections) EXPECT_TRUE(s.crc_ok) << s.tag;

  save_cache_prefix(cache, path, 25);
  KVCache prefix = load_cache(path);
  KVCache expected(cache);
  expected.truncate(25);
  EXPECT_EQ(prefix.size(0), 25u);
  EXPECT_EQ(serialize_cache(prefix), serialize_cache(expected));

  EXPECT_THROW(load_cache((dir / "missing").string()), FileIoError);
  EXPECT_THROW(save_cache(cache, (dir / "no-such-dir" / "x").string()), FileIoError);
  EXPECT_FALSE(is_cache_file((dir / "missing").string()));
  fs::remove_all(dir);
}

TEST(Persist, EveryTruncationIsRejected) {
  KVCache cache(small_config());
  fill(cache, 20, 5);
  const auto image = serialize_cache(cache);
  for (std::size_t len = 0; len < image.size(); ++len) {
    const std::vector<std::uint8_t> cut(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_NE(load_error(cut), "") << "length " << len;
  }
  std::vector<std::uint8_t> longer = image;
  longer.push_back(0);
  EXPECT_NE(load_error(longer).find("truncated or extended"), std::string::npos);
}

TEST(Persist, CorruptedBytesAreRejected) {
  KVCache cache(small_config());
  fill(cache, 20, 6);
  const auto image = serialize_cache(cache);
  for (std::size_t at = 0; at < image.size(); at += 5) {
    std::vector<std::uint8_t> bad = image;
    bad[at] ^= 0x20;
    EXPECT_NE(load_error(bad), "") << "offset " << at;
  }
}

TEST(Persist, WrongVersionConfigurationAndFingerprintGiveClearErrors) {
  KVCache cache(small_config());
  fill(cache, 20, 7);
  const auto image = serialize_cache(cache);

  auto v3 = image;
  v3[8] = 3;
  fix_header_crc(v3);
  EXPECT_NE(load_error(v3).find("unsupported format version 3"), std::string::npos) << load_error(v3);

  auto magic = image;
  magic[0] = 'X';
  EXPECT_NE(load_error(magic).find("bad magic"), std::string::npos);

  // CONF payload starts at offset 32 + 16: layers, kv_heads, q_heads, head_dim (u64 each).
  const std::size_t conf = persist::kHeaderBytes + persist::kSectionHeaderBytes;
  auto huge_dim = image;
  const std::uint64_t dim = 1u << 20;
  std::memcpy(huge_dim.data() + conf + 24, &dim, 8);
  fix_section_crc(huge_dim, 0);
  EXPECT_NE(load_error(huge_dim).find("head_dim = 1048576"), std::string::npos) << load_error(huge_dim);

  auto heads = image;
  const std::uint64_t many = 1ull << 40;
  std::memcpy(heads.data() + conf + 8, &many, 8);
  fix_section_crc(heads, 0);
  EXPECT_NE(load_error(heads).find("kv_heads"), std::string::npos) << load_error(heads);

  auto format = image;  // key_format "tq3" → "tq9" (no such format)
  const std::size_t key_format = conf + 32 + 4;
  ASSERT_EQ(std::memcmp(format.data() + key_format, "tq3", 3), 0);
  format[key_format + 2] = '9';
  fix_section_crc(format, 0);
  EXPECT_NE(load_error(format).find("configuration rejected"), std::string::npos) << load_error(format);

  auto other = image;  // key_format "tq3" → "tq4": valid, but the record size differs
  other[key_format + 2] = '4';
  fix_section_crc(other, 0);
  EXPECT_NE(load_error(other).find("key records are"), std::string::npos) << load_error(other);

  auto fingerprint = image;
  const auto [fp_at, fp_size] = sections_of(image)[1];
  ASSERT_EQ(fp_size, 12u);
  fingerprint[fp_at + 16] ^= 1;
  fix_section_crc(fingerprint, 1);
  EXPECT_NE(load_error(fingerprint).find("encodes differently"), std::string::npos) << load_error(fingerprint);

  auto counts = image;  // layer 0: sinks = 3 > config.sinks = 2
  const auto [l0, l0_size] = sections_of(image)[2];
  const std::uint64_t sinks = 3;
  std::memcpy(counts.data() + l0 + 16 + 8, &sinks, 8);
  fix_section_crc(counts, 2);
  EXPECT_NE(load_error(counts).find("holds 3 sinks"), std::string::npos) << load_error(counts);

  auto paged = image;  // absurd paged count: rejected against the section size, not allocated
  const std::uint64_t lots = 1ull << 50;
  std::memcpy(paged.data() + l0 + 16 + 24, &lots, 8);
  fix_section_crc(paged, 2);
  EXPECT_NE(load_error(paged).find("does not fit the section"), std::string::npos) << load_error(paged);
  (void)l0_size;
}

}  // namespace
}  // namespace veloxquant
