#include "runner/kv_store.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "runner/cache_kv_store.h"
#include "runner/matmul.h"
#include "veloxquant/format.h"

namespace veloxquant {

ExactKvStore::ExactKvStore(const KvShape& shape, ThreadPool& pool)
    : shape_(shape), pool_(pool), k_(shape.layers), v_(shape.layers), sizes_(shape.layers, 0) {
  if (shape.layers == 0 || shape.kv_heads == 0 || shape.head_dim == 0 || shape.heads % shape.kv_heads != 0 ||
      !(shape.scale >= 0.0f) || !(shape.softcap >= 0.0f) ||
      (!shape.windows.empty() && shape.windows.size() != shape.layers))
    throw std::invalid_argument("ExactKvStore: bad shape");
}

void ExactKvStore::append(std::size_t layer, std::size_t n_tokens, const float* k, const float* v) {
  if (layer >= shape_.layers)
    throw std::invalid_argument("ExactKvStore: layer " + std::to_string(layer) + " out of range");
  const std::size_t row = shape_.kv_heads * shape_.head_dim;
  k_[layer].insert(k_[layer].end(), k, k + n_tokens * row);
  v_[layer].insert(v_[layer].end(), v, v + n_tokens * row);
  sizes_[layer] += n_tokens;
}

void ExactKvStore::attend(std::size_t layer, std::size_t n_queries, const float* q, float* out) {
  if (layer >= shape_.layers || n_queries > sizes_[layer])
    throw std::invalid_argument("ExactKvStore: bad attend on layer " + std::to_string(layer));
  const std::size_t d = shape_.head_dim, heads = shape_.heads, group = shape_.heads / shape_.kv_heads;
  const std::size_t kv_row = shape_.kv_heads * d;
  const std::size_t n = sizes_[layer];
  const float scale = shape_.scale != 0.0f ? shape_.scale : 1.0f / std::sqrt(static_cast<float>(d));
  const float cap = shape_.softcap, inv_cap = cap != 0.0f ? 1.0f / cap : 0.0f;
  const std::size_t window = shape_.windows.empty() ? 0 : shape_.windows[layer];
  // One task per (query, head); each sees tokens first..n − n_queries + i, the last `window` of
  // them on a sliding-window layer (scores and sums: 2·n·d).
  pool_.for_work(2 * n_queries * heads * n * d)
      .parallel_for(n_queries * heads, [&](std::size_t begin, std::size_t end) {
        std::vector<float> scores(n);
        for (std::size_t task = begin; task < end; ++task) {
          const std::size_t i = task / heads, h = task % heads, kvh = h / group;
          const std::size_t last = n - n_queries + i;
          const std::size_t first = window != 0 && last >= window ? last + 1 - window : 0;
          const std::size_t visible = last + 1 - first;
          const float* keys = k_[layer].data() + first * kv_row;
          const float* values = v_[layer].data() + first * kv_row;
          const float* qh = q + (i * heads + h) * d;
          dot_many(qh, keys + kvh * d, kv_row, d, visible, scores.data());
          float max_score = -INFINITY;
          for (std::size_t t = 0; t < visible; ++t) {
            scores[t] *= scale;
            if (cap != 0.0f) scores[t] = cap * std::tanh(scores[t] * inv_cap);  // llama.cpp's order: ·1/c, tanh, ·c
            max_score = std::max(max_score, scores[t]);
          }
          float sum = 0.0f;
          for (std::size_t t = 0; t < visible; ++t) {
            scores[t] = std::exp(scores[t] - max_score);
            sum += scores[t];
          }
          float* o = out + (i * heads + h) * d;
          std::fill(o, o + d, 0.0f);
          for (std::size_t t = 0; t < visible; ++t) {
            const float p = scores[t] / sum;
            const float* vt = values + t * kv_row + kvh * d;
            for (std::size_t j = 0; j < d; ++j) o[j] += p * vt[j];
          }
        }
      });
}

void ExactKvStore::clear() {
  for (auto& k : k_) k.clear();
  for (auto& v : v_) v.clear();
  std::fill(sizes_.begin(), sizes_.end(), 0);
}

std::size_t ExactKvStore::memory_bytes() const {
  std::size_t bytes = 0;
  for (std::size_t l = 0; l < shape_.layers; ++l) bytes += (k_[l].size() + v_[l].size()) * sizeof(float);
  return bytes;
}

std::vector<std::string> layer_formats(const std::string& spec, std::size_t layers, const std::string& option) {
  if (spec.empty()) return {};
  std::vector<std::string> out(layers);
  const auto bad = [&](const std::string& part, const std::string& why) {
    throw std::invalid_argument(option + " '" + part + "': " + why);
  };
  std::size_t start = 0;
  while (start <= spec.size()) {
    const std::size_t end = std::min(spec.find(';', start), spec.size());
    const std::string group = spec.substr(start, end - start);
    start = end + 1;
    const std::size_t eq = group.find('=');  // the first: format names may hold '=' (tq4:extra=48)
    if (eq == std::string::npos) bad(group, "expected LIST=FORMAT, e.g. 0,1,-1,-2=q8");
    const std::string format = group.substr(eq + 1);
    try {
      parse_format(format);
    } catch (const std::invalid_argument& e) {
      bad(group, e.what());
    }
    std::size_t from = 0;
    const std::string list = group.substr(0, eq);
    while (from <= list.size()) {
      const std::size_t comma = std::min(list.find(',', from), list.size());
      const std::string item = list.substr(from, comma - from);
      from = comma + 1;
      char* stop = nullptr;
      const long long i = std::strtoll(item.c_str(), &stop, 10);
      if (item.empty() || *stop != '\0') bad(group, "'" + item + "' is not a layer index");
      const long long n = static_cast<long long>(layers);
      if (i >= n || i < -n)
        bad(group, "layer " + item + " is out of range for a model of " + std::to_string(layers) + " layers");
      out[static_cast<std::size_t>(i < 0 ? n + i : i)] = format;
    }
  }
  return out;
}

std::unique_ptr<KvStore> make_kv_store(const KvStoreOptions& options, const KvShape& shape, ThreadPool& pool) {
  const bool exact_k = options.key_format == "exact", exact_v = options.value_format == "exact";
  if (exact_k != exact_v)
    throw std::invalid_argument("cache formats 'exact' and '" + (exact_k ? options.value_format : options.key_format) +
                                "' cannot be mixed: 'exact' selects the plain attention for keys and values");
  if (exact_k && (!options.key_layers.empty() || !options.value_layers.empty()))
    throw std::invalid_argument(
        "per-layer formats need a cache format: 'exact' is the plain attention of every layer (use f32 for an "
        "uncompressed cache)");
  if (exact_k) return std::make_unique<ExactKvStore>(shape, pool);
  return std::make_unique<CacheKvStore>(shape, options, pool.size());
}

}  // namespace veloxquant
