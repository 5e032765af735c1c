#include "server/kv_memory.h"

#include <stdexcept>
#include <string>

#include "math/prng.h"

namespace veloxquant::server {

KvMemoryModel::KvMemoryModel(const CacheConfig& config, std::size_t max_tokens)
    : heads_(config.layers * config.kv_heads), f16_per_token_(config.layers * config.kv_heads * config.head_dim * 4) {
  CacheConfig one = config;
  one.layers = 1;
  one.q_heads = config.q_heads / config.kv_heads;
  one.kv_heads = 1;
  one.threads = 1;
  KVCache probe(one);
  SplitMix64 rng(1);
  std::vector<float> k(config.head_dim), v(config.head_dim);
  per_head_.resize(max_tokens + 1);
  per_head_[0] = probe.memory_bytes();
  for (std::size_t t = 1; t <= max_tokens; ++t) {
    for (std::size_t i = 0; i < config.head_dim; ++i) {
      k[i] = static_cast<float>(rng.normal());
      v[i] = static_cast<float>(rng.normal());
    }
    probe.append(0, 1, k.data(), v.data());
    per_head_[t] = probe.memory_bytes();
  }
}

std::size_t KvMemoryModel::bytes(std::size_t tokens) const {
  if (tokens >= per_head_.size())
    throw std::out_of_range("KvMemoryModel: " + std::to_string(tokens) + " tokens exceed the " +
                            std::to_string(max_tokens()) + " measured");
  return heads_ * per_head_[tokens];
}

std::size_t KvMemoryModel::f16_bytes(std::size_t tokens) const { return tokens * f16_per_token_; }

}  // namespace veloxquant::server
