// Per-layer formats of the cache (CacheConfig::layer_key_formats / layer_value_formats): a layer
// attends exactly as the same layer of a cache with its formats everywhere, the accounting follows
// each layer's records, the file keeps them, and bad lists are refused by name; the runner's
// "LIST=FORMAT" spec of --cache-k-layers / --cache-v-layers.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "cache/persist.h"
#include "cache_test_util.h"
#include "runner/cache_kv_store.h"
#include "runner/kv_store.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant {
namespace {

using test::random_normal;

CacheConfig base_config() {
  CacheConfig c;
  c.layers = 4;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.head_dim = 64;
  c.key_format = "tq3";
  c.value_format = "tq2.5";  // outlier channels: chosen per layer and head from the first tokens
  c.window = 8;
  c.sinks = 2;
  c.page_tokens = 32;
  c.seed = 9;
  return c;
}

// Appends the same 100 tokens to every layer in uneven chunks; returns each layer's attention
// of 3 queries after it.
std::vector<std::vector<float>> run(KVCache& cache) {
  const CacheConfig& c = cache.config();
  const std::size_t n = 100, width = c.kv_heads * c.head_dim;
  const std::vector<float> k = random_normal(n * width, 1), v = random_normal(n * width, 2);
  const std::vector<float> q = random_normal(3 * c.q_heads * c.head_dim, 3);
  for (std::size_t l = 0; l < c.layers; ++l)
    for (std::size_t t = 0, chunk = 1; t < n; t += chunk, chunk = chunk * 3 % 17 + 1) {
      chunk = std::min(chunk, n - t);
      cache.append(l, chunk, k.data() + t * width, v.data() + t * width);
    }
  std::vector<std::vector<float>> out(c.layers, std::vector<float>(q.size()));
  for (std::size_t l = 0; l < c.layers; ++l) cache.attend(l, 3, q.data(), out[l].data());
  return out;
}

TEST(CacheLayerFormats, EachLayerAttendsAsACacheOfItsFormats) {
  CacheConfig mixed = base_config();
  mixed.layer_key_formats = {"q8", "", "", "tq4:extra=16"};
  mixed.layer_value_formats = {"q8", "", "tq4", ""};
  KVCache cache(mixed);
  const std::vector<std::vector<float>> got = run(cache);
  for (std::size_t l = 0; l < mixed.layers; ++l) {
    CacheConfig uniform = base_config();
    uniform.key_format = key_format_of(mixed, l);
    uniform.value_format = value_format_of(mixed, l);
    KVCache same(uniform);
    EXPECT_EQ(got[l], run(same)[l]) << "layer " << l << ": K " << uniform.key_format << " V " << uniform.value_format;
  }
  // Layer 0 holds q8 records: more bits per coordinate than the tq3 / tq2.5 layers.
  KVCache plain(base_config());
  run(plain);
  EXPECT_GT(cache.stats().key_bits_per_coord, plain.stats().key_bits_per_coord);
  EXPECT_GT(cache.memory_bytes(), plain.memory_bytes());
  EXPECT_EQ(cache_description(mixed),
            "veloxquant KVCache K tq3 V tq2.5, layers 0 K q8 V q8, layers 2 K tq3 V tq4, layers 3 K tq4:extra=16 V "
            "tq2.5, window 8, sinks 2");
}

TEST(CacheLayerFormats, AreSavedAndLoaded) {
  CacheConfig c = base_config();
  c.layer_key_formats = {"q8", "", "", "q8"};
  KVCache cache(c);
  const std::vector<std::vector<float>> before = run(cache);
  const std::vector<std::uint8_t> image = serialize_cache(cache);
  EXPECT_EQ(image[8], 2);  // version 2: the ATTN section holds the layers' formats
  KVCache loaded = parse_cache(image);
  EXPECT_EQ(loaded.config().layer_key_formats, c.layer_key_formats);
  EXPECT_TRUE(loaded.config().layer_value_formats.empty());  // none named: no list
  EXPECT_EQ(loaded.memory_bytes(), cache.memory_bytes());
  EXPECT_EQ(serialize_cache(loaded), image);
  const std::vector<float> q = random_normal(3 * c.q_heads * c.head_dim, 3);
  for (std::size_t l = 0; l < c.layers; ++l) {
    std::vector<float> out(q.size());
    loaded.attend(l, 3, q.data(), out.data());
    EXPECT_EQ(out, before[l]) << l;
  }
  // A layer format renamed in the file (same length, so the sizes still parse) is refused by name.
  std::vector<std::uint8_t> bad = image;
  const std::string from = "q8", to = "q4";
  for (std::size_t i = 0; i + 2 <= bad.size(); ++i)
    if (std::string(bad.begin() + static_cast<std::ptrdiff_t>(i), bad.begin() + static_cast<std::ptrdiff_t>(i) + 2) ==
        from) {
      std::copy(to.begin(), to.end(), bad.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  EXPECT_THROW(parse_cache(bad), std::runtime_error);  // the section's checksum, or the record size
}

TEST(CacheLayerFormats, BadListsAreNamed) {
  const auto message = test::config_error;
  CacheConfig c = base_config();
  c.layer_key_formats = {"q8", ""};
  EXPECT_NE(message(c).find("layer_key_formats has 2 entries, expected 0 or layers = 4"), std::string::npos)
      << message(c);
  c.layer_key_formats = {};
  c.layer_value_formats = {"", "", "tq9", ""};
  EXPECT_NE(message(c).find("tq9"), std::string::npos) << message(c);
}

TEST(CacheLayerFormats, SpecOfTheCommandLine) {
  EXPECT_EQ(layer_formats("", 6, "--cache-k-layers"), std::vector<std::string>{});
  EXPECT_EQ(layer_formats("0,1,-1,-2=q8", 6, "--cache-k-layers"),
            (std::vector<std::string>{"q8", "q8", "", "", "q8", "q8"}));
  // A later group wins; format names may hold '=' and ':'.
  EXPECT_EQ(layer_formats("0,2=tq4:extra=48;2=f16", 3, "--cache-v-layers"),
            (std::vector<std::string>{"tq4:extra=48", "", "f16"}));
  const auto message = [](const std::string& spec) -> std::string {
    try {
      layer_formats(spec, 6, "--cache-k-layers");
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(message("0,1"), "--cache-k-layers '0,1': expected LIST=FORMAT, e.g. 0,1,-1,-2=q8");
  EXPECT_EQ(message("6=q8"), "--cache-k-layers '6=q8': layer 6 is out of range for a model of 6 layers");
  EXPECT_EQ(message("-7=q8"), "--cache-k-layers '-7=q8': layer -7 is out of range for a model of 6 layers");
  EXPECT_EQ(message("0,x=q8"), "--cache-k-layers '0,x=q8': 'x' is not a layer index");
  EXPECT_EQ(message("0,,1=q8"), "--cache-k-layers '0,,1=q8': '' is not a layer index");
  EXPECT_NE(message("0=bogus").find("--cache-k-layers '0=bogus': "), std::string::npos) << message("0=bogus");
  // The runner's stores: the spec reaches the cache; the exact attention takes none.
  KvStoreOptions o;
  o.key_format = o.value_format = "tq3";
  o.key_layers = "-1=q8";
  const CacheConfig cc = cache_config({6, 4, 2, 64}, o, 1);
  EXPECT_EQ(key_format_of(cc, 5), "q8");
  EXPECT_EQ(key_format_of(cc, 4), "tq3");
  ThreadPool pool(1);
  o.key_format = o.value_format = "exact";
  EXPECT_THROW(make_kv_store(o, {6, 4, 2, 64}, pool), std::invalid_argument);
}

}  // namespace
}  // namespace veloxquant
