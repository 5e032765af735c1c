// Cache file writing: the deterministic image of a cache, and the atomic save.

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

#include "cache/cache_impl.h"
#include "cache/page_records.h"
#include "cache/persist.h"
#include "cache/persist_format.h"
#include "io/atomic_file.h"
#include "io/crc32.h"
#include "math/prng.h"

namespace veloxquant {

namespace persist {

std::uint32_t format_fingerprint(const FormatSpec& format, std::size_t dim) {
  constexpr std::uint64_t kProbeSeed = 0x5EEDF00DCAFEull;
  constexpr std::size_t kProbeVectors = 4;
  const auto q = make_quantizer(format, dim, kProbeSeed);
  SplitMix64 g(kProbeSeed);
  std::vector<float> x(kProbeVectors * dim);
  for (float& v : x) v = static_cast<float>(g.normal());
  std::vector<std::uint8_t> codes(kProbeVectors * q->code_size());
  q->encode(kProbeVectors, x.data(), codes.data());
  const std::uint64_t size = q->code_size();
  return crc32(codes.data(), codes.size(), crc32(&size, sizeof size));
}

}  // namespace persist

namespace {

using persist::Writer;

std::vector<std::uint8_t> config_payload(const KVCache::Impl& impl) {
  const CacheConfig& c = impl.config;
  Writer w;
  w.u64(c.layers);
  w.u64(c.kv_heads);
  w.u64(c.q_heads);
  w.u64(c.head_dim);
  w.str(c.key_format);
  w.str(c.value_format);
  w.str(c.exact_format);
  w.u64(c.window);
  w.u64(c.sinks);
  w.u64(c.max_tokens);
  w.u64(c.calibration_tokens);
  w.u64(c.page_tokens);
  w.u64(c.seed);
  w.u64(c.threads);
  w.f32(c.scale);
  w.u64(impl.defaults.key_code_size);
  w.u64(impl.defaults.value_code_size);
  w.u64(impl.exact_code_size);
  return std::move(w.bytes);
}

// Whether some layer has formats of its own (a list of "" entries names none).
bool has_layer_formats(const CacheConfig& c) {
  for (const auto* list : {&c.layer_key_formats, &c.layer_value_formats})
    for (const std::string& name : *list)
      if (!name.empty()) return true;
  return false;
}

// Version 2's section: what version 1 cannot say (soft-capping, sliding windows, evicted counts,
// per-layer formats).
bool needs_attention_section(const KVCache::Impl& impl) {
  const CacheConfig& c = impl.config;
  if (c.softcap != 0.0f || !c.sliding_windows.empty()) return true;
  if (has_layer_formats(c)) return true;
  return std::any_of(impl.layers.begin(), impl.layers.end(), [](const CacheLayer& l) { return l.evicted > 0; });
}

std::vector<std::uint8_t> attention_payload(const KVCache::Impl& impl, persist::Fingerprints& fingerprints) {
  Writer w;
  w.f32(impl.config.softcap);
  w.u64(impl.config.sliding_windows.size());
  for (const std::size_t window : impl.config.sliding_windows) w.u64(window);
  for (const CacheLayer& layer : impl.layers) w.u64(layer.evicted);
  // Per-layer formats: none, or every layer's names as configured ("" = the default) with the
  // record sizes and fingerprints of what the layer stores.
  const CacheConfig& c = impl.config;
  const bool per_layer = has_layer_formats(c);
  w.u64(per_layer ? c.layers : 0);
  for (std::size_t l = 0; per_layer && l < c.layers; ++l) {
    const LayerFormats& f = impl.formats[l];
    w.str(l < c.layer_key_formats.size() ? c.layer_key_formats[l] : "");
    w.str(l < c.layer_value_formats.size() ? c.layer_value_formats[l] : "");
    w.u64(f.key_code_size);
    w.u64(f.value_code_size);
    w.u32(fingerprints.of(f.key_spec));
    w.u32(fingerprints.of(f.value_spec));
  }
  return std::move(w.bytes);
}

// Of the resolved formats (exact_format "auto" names f32 or f16 depending on the others).
std::vector<std::uint8_t> fingerprint_payload(const KVCache::Impl& impl, persist::Fingerprints& fingerprints) {
  Writer w;
  w.u32(fingerprints.of(impl.defaults.key_spec));
  w.u32(fingerprints.of(impl.defaults.value_spec));
  w.u32(fingerprints.of(impl.exact_spec));
  return std::move(w.bytes);
}

// Held records of a head, in position order, with their sizes (the layer section's payload).
void layer_payload(const KVCache::Impl& impl, std::size_t index, Writer& w) {
  const CacheLayer& layer = impl.layers[index];
  const std::size_t es = impl.exact_code_size, kcs = impl.formats[index].key_code_size,
                    vcs = impl.formats[index].value_code_size;
  const std::size_t pt = impl.config.page_tokens, window = impl.config.window;
  w.u64(index);
  w.u64(layer.sinks);
  w.u64(layer.page_skip);
  w.u64(layer.paged);
  w.u64(layer.window_start);
  w.u64(layer.window_count);
  for (const CacheHead& head : layer.heads) {
    w.u64(head.key_seed);
    w.u64(head.value_seed);
    std::uint32_t flags = 0;
    if (head.key_quantizer) flags |= persist::kHeadQuantizersBuilt;
    if (!head.window_keys.empty()) flags |= persist::kHeadWindowAllocated;
    if (head.sink_keys.capacity() > 0) flags |= persist::kHeadSinksReserved;
    w.u32(flags);
    w.u32(static_cast<std::uint32_t>(head.key_outliers.size()));
    w.u32(static_cast<std::uint32_t>(head.value_outliers.size()));
    w.put(head.key_outliers.data(), head.key_outliers.size() * sizeof(std::uint32_t));
    w.put(head.value_outliers.data(), head.value_outliers.size() * sizeof(std::uint32_t));
    w.put(head.sink_keys.data(), layer.sinks * es);
    w.put(head.sink_values.data(), layer.sinks * es);
    std::vector<std::uint8_t> key(kcs), value(vcs);  // files hold plain records, whatever the pages' layout
    for (std::size_t i = 0; i < layer.paged; ++i) {
      const std::size_t at = layer.page_skip + i;
      get_page_record(impl, *head.key_quantizer, BlockOrder::kKeys, head.pages[at / pt].keys.data(), at % pt,
                      key.data());
      w.put(key.data(), kcs);
    }
    for (std::size_t i = 0; i < layer.paged; ++i) {
      const std::size_t at = layer.page_skip + i;
      get_page_record(impl, *head.value_quantizer, BlockOrder::kValues, head.pages[at / pt].values.data(), at % pt,
                      value.data());
      w.put(value.data(), vcs);
    }
    for (int part = 0; part < 2; ++part) {
      const std::vector<std::uint8_t>& ring = part == 0 ? head.window_keys : head.window_values;
      for (std::size_t j = 0; j < layer.window_count; ++j)
        w.put(ring.data() + ((layer.window_start + j) % window) * es, es);
    }
  }
}

// What layer_payload writes, computed without building it (the header needs the file size first).
std::size_t layer_payload_bytes(const KVCache::Impl& impl, std::size_t index) {
  const CacheLayer& layer = impl.layers[index];
  const std::size_t es = impl.exact_code_size;
  std::size_t n = 6 * 8;
  for (const CacheHead& head : layer.heads) {
    n += 2 * 8 + 3 * 4 + 4 * (head.key_outliers.size() + head.value_outliers.size());
    n += 2 * layer.sinks * es +
         layer.paged * (impl.formats[index].key_code_size + impl.formats[index].value_code_size) +
         2 * layer.window_count * es;
  }
  return n;
}

void section(Writer& out, std::uint32_t tag, const std::vector<std::uint8_t>& payload) {
  const std::size_t start = out.bytes.size();
  out.u32(tag);
  out.u32(0);
  out.u64(payload.size());
  out.put(payload.data(), payload.size());
  out.u32(crc32(out.bytes.data() + start, out.bytes.size() - start));
}

// A configuration the reader's limits (persist_read.cpp) would refuse is not written: a file
// that cannot be loaded back is worse than an error now.
void check_savable(const CacheConfig& c) {
  const auto refuse = [](const std::string& what) {
    throw std::invalid_argument("cannot save cache: " + what + ", the largest a cache file holds");
  };
  if (c.head_dim > persist::kMaxHeadDim)
    refuse("head_dim = " + std::to_string(c.head_dim) + " is above " + std::to_string(persist::kMaxHeadDim));
  for (const auto& [name, v] : {std::pair<const char*, std::size_t>{"window", c.window},
                                {"sinks", c.sinks},
                                {"page_tokens", c.page_tokens},
                                {"calibration_tokens", c.calibration_tokens}})
    if (v > persist::kMaxTokensPerPart)
      refuse(std::string(name) + " = " + std::to_string(v) + " is above " + std::to_string(persist::kMaxTokensPerPart));
  if (c.threads > persist::kMaxThreads)
    refuse("threads = " + std::to_string(c.threads) + " is above " + std::to_string(persist::kMaxThreads));
  if (c.q_heads > c.kv_heads * 1024) refuse("q_heads = " + std::to_string(c.q_heads) + " is above 1024 × kv_heads");
  std::vector<const std::string*> names = {&c.key_format, &c.value_format, &c.exact_format};
  for (const auto* list : {&c.layer_key_formats, &c.layer_value_formats})
    for (const std::string& name : *list) names.push_back(&name);
  for (const std::string* name : names)
    if (name->size() > persist::kMaxStringBytes)
      refuse("a format name of " + std::to_string(name->size()) + " bytes is above " +
             std::to_string(persist::kMaxStringBytes));
}

// Calls emit(bytes) for consecutive pieces of the image; builds one layer in memory at a time.
template <typename Emit>
void write_image(const KVCache::Impl& impl, Emit&& emit) {
  persist::Fingerprints fingerprints(impl.config.head_dim);
  const std::vector<std::uint8_t> conf = config_payload(impl), fprt = fingerprint_payload(impl, fingerprints);
  const bool v2 = needs_attention_section(impl);
  const std::vector<std::uint8_t> attn = v2 ? attention_payload(impl, fingerprints) : std::vector<std::uint8_t>{};
  std::uint64_t total = persist::kHeaderBytes;
  const auto section_bytes = [](std::size_t payload) {
    return persist::kSectionHeaderBytes + payload + persist::kSectionTrailerBytes;
  };
  total += section_bytes(conf.size()) + section_bytes(fprt.size()) + (v2 ? section_bytes(attn.size()) : 0);
  for (std::size_t l = 0; l < impl.layers.size(); ++l) total += section_bytes(layer_payload_bytes(impl, l));
  Writer head;
  head.bytes.reserve(persist::kHeaderBytes);  // also silences a GCC 12 -Wstringop-overflow false positive
  head.put(persist::kMagic, sizeof persist::kMagic);
  head.u32(v2 ? kCacheFileVersion : kCacheFileVersionPlain);
  head.u32(static_cast<std::uint32_t>((v2 ? 3 : 2) + impl.layers.size()));
  head.u64(total);
  head.u32(0);
  head.u32(crc32(head.bytes.data(), head.bytes.size()));
  section(head, persist::kTagConfig, conf);
  if (v2) section(head, persist::kTagAttention, attn);
  section(head, persist::kTagFingerprint, fprt);
  emit(head.bytes);
  for (std::size_t l = 0; l < impl.layers.size(); ++l) {
    Writer payload;
    payload.bytes.reserve(layer_payload_bytes(impl, l));
    layer_payload(impl, l, payload);
    if (payload.bytes.size() != layer_payload_bytes(impl, l)) throw std::logic_error("cache file: layer size mismatch");
    Writer s;
    section(s, persist::kTagLayer, payload.bytes);
    emit(s.bytes);
  }
}

}  // namespace

std::vector<std::uint8_t> serialize_cache(const KVCache& cache) {
  check_savable(cache.config());
  std::vector<std::uint8_t> image;
  write_image(cache.internals(),
              [&](const std::vector<std::uint8_t>& b) { image.insert(image.end(), b.begin(), b.end()); });
  return image;
}

void save_cache(const KVCache& cache, const std::string& path) {
  check_savable(cache.config());  // before creating the temporary file
  write_file_atomically(path, "cannot save cache", [&](const ByteSink& sink) {
    write_image(cache.internals(), [&](const std::vector<std::uint8_t>& b) { sink(b.data(), b.size()); });
  });
}

void save_cache_prefix(const KVCache& cache, const std::string& path, std::size_t n_tokens) {
  KVCache prefix(cache);
  prefix.truncate(n_tokens);
  save_cache(prefix, path);
}

}  // namespace veloxquant
