// KVCache's public methods: configuration checks, input validation (before any mutation),
// truncate / clear / copy, memory accounting and stats. The work is in cache_append.cpp and
// cache_attend.cpp.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "cache/cache_impl.h"
#include "cache/input_check.h"
#include "kernels/kernels.h"
#include "math/prng.h"

namespace veloxquant {

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("CacheConfig: " + message);
}

void check_layer(const CacheConfig& c, std::size_t layer) {
  if (layer >= c.layers)
    throw std::invalid_argument("layer " + std::to_string(layer) +
                                " out of range (layers = " + std::to_string(c.layers) + ")");
}

std::size_t vector_bytes(const std::vector<std::uint8_t>& v) { return v.capacity(); }

// Bounds of a configuration, checked before anything is sized from it. Sizes multiply (a window
// ring is window × record bytes per head), so a huge count must fail here, not wrap around into a
// small allocation that append then overruns. The token bounds are the cache file's.
constexpr std::size_t kMaxTokensPerPart = std::size_t{1} << 24;  // window, sinks, page_tokens, calibration
constexpr std::size_t kMaxTokenBound = std::size_t{1} << 48;     // max_tokens
constexpr std::size_t kMaxHeads = std::size_t{1} << 20;          // layers × kv_heads
constexpr std::size_t kMaxHeadDim = 65536;                       // as make_quantizer
constexpr std::size_t kMaxQueryGroup = 1024;                     // q_heads / kv_heads
// The buffers a cache sizes from its configuration alone, over all heads: the window rings, the
// sink records and one page per head (keys + values). Beyond this (64 GiB) a configuration is
// refused: an exact window that large is an uncompressed cache (use an f16 format, window 0).
constexpr long double kMaxFixedBufferBytes = 1ull << 36;

void check_counts(const CacheConfig& c) {
  for (const auto& [name, v] : {std::pair<const char*, std::size_t>{"window", c.window},
                                {"sinks", c.sinks},
                                {"page_tokens", c.page_tokens},
                                {"calibration_tokens", c.calibration_tokens}})
    require(v <= kMaxTokensPerPart,
            std::string(name) + " = " + std::to_string(v) + " is above " + std::to_string(kMaxTokensPerPart));
  require(c.max_tokens <= kMaxTokenBound,
          "max_tokens = " + std::to_string(c.max_tokens) + " is above " + std::to_string(kMaxTokenBound));
  require(c.head_dim <= kMaxHeadDim,
          "head_dim = " + std::to_string(c.head_dim) + " is above " + std::to_string(kMaxHeadDim));
  require(c.layers <= kMaxHeads && c.kv_heads <= kMaxHeads && c.layers * c.kv_heads <= kMaxHeads,
          "layers × kv_heads = " + std::to_string(c.layers) + " × " + std::to_string(c.kv_heads) + " is above " +
              std::to_string(kMaxHeads));
  require(c.q_heads / c.kv_heads <= kMaxQueryGroup,
          "q_heads = " + std::to_string(c.q_heads) + " is above " + std::to_string(kMaxQueryGroup) + " × kv_heads");
}

void check_sliding_windows(const CacheConfig& c) {
  const std::vector<std::size_t>& w = c.sliding_windows;
  require(w.empty() || w.size() == c.layers, "sliding_windows has " + std::to_string(w.size()) +
                                                 " entries, expected 0 or layers = " + std::to_string(c.layers));
  for (std::size_t l = 0; l < w.size(); ++l)
    require(w[l] <= kMaxTokenBound, "sliding_windows[" + std::to_string(l) + "] = " + std::to_string(w[l]) +
                                        " is above " + std::to_string(kMaxTokenBound));
}

void check_layer_formats(const CacheConfig& c) {
  for (const auto& [name, list] :
       {std::pair<const char*, const std::vector<std::string>*>{"layer_key_formats", &c.layer_key_formats},
        {"layer_value_formats", &c.layer_value_formats}})
    require(list->empty() || list->size() == c.layers,
            std::string(name) + " has " + std::to_string(list->size()) +
                " entries, expected 0 or layers = " + std::to_string(c.layers));
}

// The first layer that cannot be cut back to n_tokens (layers.size(): none): a sliding-window
// layer that evicted tokens cannot give them back, and later queries would miss part of their
// window.
std::size_t uncuttable_layer(const KVCache::Impl& impl, std::size_t n_tokens) {
  for (std::size_t l = 0; l < impl.layers.size(); ++l) {
    const CacheLayer& layer = impl.layers[l];
    if (impl.sliding_window(l) > 0 && layer.evicted > 0 && n_tokens < layer.size() + layer.evicted) return l;
  }
  return impl.layers.size();
}

// The first query's window must be held: after eviction a sliding-window layer holds the windows
// of its last append's tokens only.
void check_window_held(const KVCache::Impl& impl, std::size_t l, std::size_t n_queries) {
  const CacheLayer& layer = impl.layers[l];
  const std::size_t w = impl.sliding_window(l), first = layer.size() - n_queries;
  if (w == 0 || layer.evicted == 0 || first + 1 >= w) return;
  throw std::invalid_argument("attend: " + std::to_string(n_queries) + " queries on layer " + std::to_string(l) +
                              ": the first sees a sliding window of " + std::to_string(w) + " tokens, of which " +
                              std::to_string(w - first - 1) +
                              " were evicted; attend at most the tokens of the last append");
}

// Checked in long double: every factor is bounded above, so the product cannot overflow it.
void check_fixed_buffers(const CacheConfig& c, std::size_t exact_bytes, const std::vector<LayerFormats>& formats) {
  long double record_bytes = 0.0L;  // a key and a value record of every layer
  for (const LayerFormats& f : formats) record_bytes += static_cast<long double>(f.key_code_size + f.value_code_size);
  const long double per_layer_head = 2.0L * (static_cast<long double>(c.window) + c.sinks) * exact_bytes;
  const long double total =
      (per_layer_head * c.layers + static_cast<long double>(c.page_tokens) * record_bytes) * c.kv_heads;
  require(total <= kMaxFixedBufferBytes,
          "window (" + std::to_string(c.window) + "), sinks (" + std::to_string(c.sinks) + ") and page_tokens (" +
              std::to_string(c.page_tokens) + ") need " + std::to_string(static_cast<double>(total)) +
              " bytes of buffers over " + std::to_string(c.layers * c.kv_heads) + " heads, above " +
              std::to_string(static_cast<double>(kMaxFixedBufferBytes)));
}

// Stored keys and values are finite and bounded (append and the file loader check them), so a
// non-finite output means a finite query whose scores q·k·scale overflow float32 (|q| ~ 1e38):
// the softmax then computes Inf − Inf. Such scores cannot be ranked in float32 at all, so the
// honest answer is an error naming the query, not NaN. Costs one scan of the output.
void check_attention_finite(const CacheConfig& c, std::size_t n_queries, const float* q, const float* out) {
  const std::size_t row = c.head_dim, rows = n_queries * c.q_heads;
  if (!kernels::any_abs_above(rows * row, out, std::numeric_limits<float>::max())) return;
  for (std::size_t i = 0; i < rows; ++i) {
    bool finite = true;
    double norm = 0.0;
    for (std::size_t j = 0; j < row; ++j) {
      finite = finite && std::isfinite(out[i * row + j]);
      norm += static_cast<double>(q[i * row + j]) * q[i * row + j];
    }
    if (finite) continue;
    char norm_text[32];
    std::snprintf(norm_text, sizeof norm_text, "%.4g", std::sqrt(norm));
    throw std::invalid_argument("attend: q[query " + std::to_string(i / c.q_heads) + "][head " +
                                std::to_string(i % c.q_heads) + "] has norm " + norm_text +
                                ": its attention scores overflow float32 (the output would be NaN); scale the "
                                "query down");
  }
}

}  // namespace

KVCache::Impl::Impl(const CacheConfig& c) : config(c) {
  require(c.layers >= 1, "layers must be ≥ 1, got " + std::to_string(c.layers));
  require(c.kv_heads >= 1, "kv_heads must be ≥ 1, got " + std::to_string(c.kv_heads));
  require(c.q_heads >= c.kv_heads && c.q_heads % c.kv_heads == 0, "q_heads (" + std::to_string(c.q_heads) +
                                                                      ") must be a positive multiple of kv_heads (" +
                                                                      std::to_string(c.kv_heads) + ")");
  require(c.head_dim >= 1, "head_dim must be ≥ 1, got " + std::to_string(c.head_dim));
  require(c.page_tokens >= 1, "page_tokens must be ≥ 1, got " + std::to_string(c.page_tokens));
  require(c.threads >= 1, "threads must be ≥ 1, got " + std::to_string(c.threads));
  require(
      c.max_tokens == 0 || c.max_tokens > c.sinks,
      "max_tokens (" + std::to_string(c.max_tokens) + ") must be 0 or exceed sinks (" + std::to_string(c.sinks) + ")");
  require(std::isfinite(c.scale) && c.scale >= 0.0f, "scale must be finite and ≥ 0, got " + std::to_string(c.scale));
  require(std::isfinite(c.softcap) && c.softcap >= 0.0f,
          "softcap must be finite and > 0 (or 0: off), got " + std::to_string(c.softcap));
  check_sliding_windows(c);
  check_counts(c);

  check_layer_formats(c);
  const auto make_formats = [&](const std::string& key_format, const std::string& value_format) {
    LayerFormats f;
    f.key_spec = parse_format(key_format);
    f.value_spec = parse_format(value_format);
    f.key_outlier_count = f.key_spec.outliers_for_dim(c.head_dim);
    f.value_outlier_count = f.value_spec.outliers_for_dim(c.head_dim);
    require(f.key_outlier_count + f.value_outlier_count == 0 || c.calibration_tokens >= 1,
            "calibration_tokens must be ≥ 1 with outlier formats");
    // Probe quantizers: they reject a dimension the format cannot take, and give record sizes
    // (which depend on neither the seed nor the outlier channels).
    f.key_code_size = make_quantizer(f.key_spec, c.head_dim, 0)->code_size();
    f.value_code_size = make_quantizer(f.value_spec, c.head_dim, 0)->code_size();
    return f;
  };
  defaults = make_formats(c.key_format, c.value_format);
  formats.reserve(c.layers);
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::string &k = key_format_of(c, l), &v = value_format_of(c, l);
    if (k == c.key_format && v == c.value_format)
      formats.push_back(defaults);
    else if (l > 0 && k == key_format_of(c, l - 1) && v == value_format_of(c, l - 1))
      formats.push_back(formats.back());
    else
      formats.push_back(make_formats(k, v));
  }
  exact_spec = parse_format(resolved_exact_format(c));
  require(exact_spec.method == Method::kF32 || exact_spec.method == Method::kF16 || exact_spec.method == Method::kBF16,
          "exact_format must be f32, f16 or bf16, got '" + c.exact_format + "'");
  exact = make_quantizer(exact_spec, c.head_dim, 0);
  exact_code_size = exact->code_size();
  check_fixed_buffers(c, exact_code_size, formats);
  scale = c.scale > 0.0f ? c.scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim));

  layers.resize(c.layers);
  for (std::size_t l = 0; l < c.layers; ++l) {
    layers[l].heads.resize(c.kv_heads);
    for (std::size_t h = 0; h < c.kv_heads; ++h) {
      const std::uint64_t stream = l * c.kv_heads + h;
      layers[l].heads[h].key_seed = derive_seed(c.seed, stream, 0);
      layers[l].heads[h].value_seed = derive_seed(c.seed, stream, 1);
    }
  }
}

std::string resolved_exact_format(const CacheConfig& c) {
  if (c.exact_format != "auto") return c.exact_format;
  bool any_f32 = false;
  for (std::size_t l = 0; l < c.layers && !any_f32; ++l)
    any_f32 = parse_format(key_format_of(c, l)).method == Method::kF32 ||
              parse_format(value_format_of(c, l)).method == Method::kF32;
  return any_f32 ? "f32" : "f16";
}

KVCache::KVCache(const CacheConfig& config) : impl_(std::make_unique<Impl>(config)) {}
KVCache::~KVCache() = default;
KVCache::KVCache(const KVCache& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
KVCache& KVCache::operator=(const KVCache& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
  return *this;
}
KVCache::KVCache(KVCache&&) noexcept = default;
KVCache& KVCache::operator=(KVCache&&) noexcept = default;

const CacheConfig& KVCache::config() const { return impl_->config; }

std::size_t KVCache::size(std::size_t layer) const {
  check_layer(impl_->config, layer);
  return impl_->layers[layer].size();
}

std::size_t KVCache::appended(std::size_t layer) const {
  check_layer(impl_->config, layer);
  return impl_->layers[layer].size() + impl_->layers[layer].evicted;
}

void KVCache::append(std::size_t layer, std::size_t n_tokens, const float* k, const float* v) {
  const CacheConfig& c = impl_->config;
  check_layer(c, layer);
  if (n_tokens == 0) return;
  if (!k || !v) throw std::invalid_argument(std::string("append: ") + (!k ? "k" : "v") + " is null");
  check_storable(*impl_, layer, "k", k, n_tokens, c.kv_heads, true);
  check_storable(*impl_, layer, "v", v, n_tokens, c.kv_heads, false);
  const auto start = std::chrono::steady_clock::now();
  cache_append(*impl_, layer, n_tokens, k, v);
  impl_->encode_time.add(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
}

void KVCache::attend(std::size_t layer, std::size_t n_queries, const float* q, float* out) const {
  const CacheConfig& c = impl_->config;
  check_layer(c, layer);
  if (n_queries == 0) return;
  const std::size_t held = impl_->layers[layer].size();
  if (n_queries > held)
    throw std::invalid_argument("n_queries " + std::to_string(n_queries) + " exceeds the " + std::to_string(held) +
                                " tokens of layer " + std::to_string(layer));
  if (!q || !out) throw std::invalid_argument(std::string("attend: ") + (!q ? "q" : "out") + " is null");
  check_finite("q", q, n_queries, c.q_heads, c.head_dim);
  check_window_held(*impl_, layer, n_queries);
  const auto start = std::chrono::steady_clock::now();
  cache_attend(*impl_, layer, n_queries, q, out);
  impl_->attend_time.add(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  check_attention_finite(c, n_queries, q, out);
}

bool KVCache::can_truncate(std::size_t n_tokens) const {
  return uncuttable_layer(*impl_, n_tokens) == impl_->layers.size();
}

void KVCache::truncate(std::size_t n_tokens) {
  const std::size_t l = uncuttable_layer(*impl_, n_tokens);
  if (l < impl_->layers.size()) {
    const CacheLayer& layer = impl_->layers[l];
    throw std::invalid_argument("truncate to " + std::to_string(n_tokens) + " tokens: layer " + std::to_string(l) +
                                " keeps only its sliding window of " + std::to_string(impl_->sliding_window(l)) +
                                " tokens (" + std::to_string(layer.evicted) + " of its " +
                                std::to_string(layer.size() + layer.evicted) + " were evicted) and cannot be cut back");
  }
  for (CacheLayer& layer : impl_->layers) cache_truncate(*impl_, layer, n_tokens);
}

void KVCache::clear() {
  // Fresh per-head state (seeds are re-derived: they depend only on the configuration), so the
  // outlier channels are chosen again from the next tokens.
  Impl fresh(impl_->config);
  fresh.encode_time = impl_->encode_time;
  fresh.attend_time = impl_->attend_time;
  *impl_ = std::move(fresh);
}

std::size_t KVCache::memory_bytes() const {
  const CacheStats s = stats();
  return s.code_bytes + s.window_bytes + s.sink_bytes + s.outlier_bytes;
}

CacheStats KVCache::stats() const {
  const Impl& impl = *impl_;
  CacheStats s;
  s.tokens = impl.layers[0].size();
  std::size_t compressed = 0, key_record_bytes = 0, value_record_bytes = 0;  // of the token-heads held in pages
  for (std::size_t l = 0; l < impl.layers.size(); ++l) {
    const CacheLayer& layer = impl.layers[l];
    compressed += layer.paged * layer.heads.size();
    key_record_bytes += layer.paged * layer.heads.size() * impl.formats[l].key_code_size;
    value_record_bytes += layer.paged * layer.heads.size() * impl.formats[l].value_code_size;
    for (const CacheHead& head : layer.heads) {
      for (const CachePage& page : head.pages) {
        s.key_code_bytes += vector_bytes(page.keys);
        s.value_code_bytes += vector_bytes(page.values);
      }
      s.window_bytes += vector_bytes(head.window_keys) + vector_bytes(head.window_values);
      s.sink_bytes += vector_bytes(head.sink_keys) + vector_bytes(head.sink_values);
      s.outlier_bytes += (head.key_outliers.capacity() + head.value_outliers.capacity()) * sizeof(std::uint32_t);
    }
  }
  s.code_bytes = s.key_code_bytes + s.value_code_bytes;
  if (compressed > 0) {
    // Bytes of the records that hold compressed tokens, per coordinate (page slack excluded;
    // memory_bytes() includes it).
    const double coords = static_cast<double>(compressed) * static_cast<double>(impl.config.head_dim);
    s.key_bits_per_coord = 8.0 * static_cast<double>(key_record_bytes) / coords;
    s.value_bits_per_coord = 8.0 * static_cast<double>(value_record_bytes) / coords;
  }
  s.encode_seconds = impl.encode_time.seconds();
  s.attend_seconds = impl.attend_time.seconds();
  return s;
}

}  // namespace veloxquant
