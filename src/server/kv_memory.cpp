#include "server/kv_memory.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "math/prng.h"

namespace veloxquant::server {

namespace {

// memory_bytes() of a one-layer, one-head cache of `config` after each of 0..max_tokens appended
// tokens.
std::vector<std::size_t> measure_one_head(const CacheConfig& config, std::size_t max_tokens) {
  CacheConfig one = config;
  one.layers = 1;
  one.q_heads = config.q_heads / config.kv_heads;
  one.kv_heads = 1;
  one.threads = 1;
  KVCache probe(one);
  SplitMix64 rng(1);
  std::vector<float> k(config.head_dim), v(config.head_dim);
  std::vector<std::size_t> bytes(max_tokens + 1);
  bytes[0] = probe.memory_bytes();
  for (std::size_t t = 1; t <= max_tokens; ++t) {
    for (std::size_t i = 0; i < config.head_dim; ++i) {
      k[i] = static_cast<float>(rng.normal());
      v[i] = static_cast<float>(rng.normal());
    }
    probe.append(0, 1, k.data(), v.data());
    bytes[t] = probe.memory_bytes();
  }
  return bytes;
}

}  // namespace

KvMemoryModel::KvMemoryModel(const CacheConfig& config, std::size_t max_tokens)
    : max_tokens_(max_tokens), f16_per_token_(config.layers * config.kv_heads * config.head_dim * 4) {
  for (std::size_t l = 0; l < config.layers; ++l) {
    const bool windowed = !config.sliding_windows.empty() && config.sliding_windows[l] > 0;
    const std::string &k = key_format_of(config, l), &v = value_format_of(config, l);
    auto kind = std::find_if(kinds_.begin(), kinds_.end(), [&](const LayerKind& x) {
      return x.key_format == k && x.value_format == v && x.windowed == windowed;
    });
    if (kind == kinds_.end()) kind = kinds_.insert(kinds_.end(), LayerKind{k, v, windowed, 0, {}});
    kind->heads += config.kv_heads;
  }
  for (LayerKind& kind : kinds_) {
    CacheConfig one = config;
    one.exact_format = resolved_exact_format(config);  // of the whole cache, not of one kind
    one.key_format = kind.key_format;
    one.value_format = kind.value_format;
    one.layer_key_formats.clear();
    one.layer_value_formats.clear();
    one.sliding_windows.clear();       // the upper bound: a sliding-window layer holds a subset of the tokens
    if (kind.windowed) one.sinks = 0;  // and keeps no sinks
    kind.per_head = measure_one_head(one, max_tokens);
  }
}

std::size_t KvMemoryModel::bytes(std::size_t tokens) const {
  if (tokens > max_tokens_)
    throw std::out_of_range("KvMemoryModel: " + std::to_string(tokens) + " tokens exceed the " +
                            std::to_string(max_tokens_) + " measured");
  std::size_t total = 0;
  for (const LayerKind& kind : kinds_) total += kind.heads * kind.per_head[tokens];
  return total;
}

std::size_t KvMemoryModel::f16_bytes(std::size_t tokens) const { return tokens * f16_per_token_; }

}  // namespace veloxquant::server
