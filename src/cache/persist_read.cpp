// Cache file reading: validates structure, checksums, configuration and every count against the
// bytes actually present before building anything from them.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include "cache/cache_impl.h"
#include "cache/input_check.h"
#include "cache/page_records.h"
#include "cache/persist.h"
#include "cache/persist_format.h"
#include "io/crc32.h"
#include "io/mapped_file.h"

namespace veloxquant {

namespace {

using persist::Reader;

// The file's bytes: an image in memory, or the file mapped read-only (no copy of the records
// before they reach the cache's pages). A file saved by save_cache is replaced by rename, never
// rewritten in place, so a mapping stays valid while a newer version is saved.
class Source {
 public:
  Source(std::string name, std::span<const std::uint8_t> bytes) : name_(std::move(name)), bytes_(bytes) {}
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  virtual ~Source() = default;
  std::uint64_t size() const { return bytes_.size(); }
  // Callers stay within size() (checked before every call).
  std::span<const std::uint8_t> bytes(std::uint64_t offset, std::size_t n) const { return bytes_.subspan(offset, n); }
  const std::string& name() const { return name_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw FileFormatError("cache file '" + name_ + "': " + what);
  }

 protected:
  void set_bytes(std::span<const std::uint8_t> bytes) { bytes_ = bytes; }

 private:
  std::string name_;
  std::span<const std::uint8_t> bytes_;
};

class MappedSource : public Source {
 public:
  explicit MappedSource(const std::string& path) : Source(path, {}), file_(MappedFile::open(path, "cache file")) {
    set_bytes({file_->data(), file_->size()});
  }

 private:
  std::shared_ptr<const MappedFile> file_;
};

struct Header {
  std::uint32_t version = 0, section_count = 0;
  std::uint64_t file_bytes = 0;
  // CONF, FPRT and (version 2) ATTN; the others are layers.
  std::uint32_t fixed_sections() const { return version == kCacheFileVersionPlain ? 2 : 3; }
};

Header read_header(const Source& src) {
  if (src.size() < persist::kHeaderBytes)
    src.fail("too short for the header (" + std::to_string(src.size()) + " bytes)");
  const std::uint8_t* h = src.bytes(0, persist::kHeaderBytes).data();
  if (std::memcmp(h, persist::kMagic, sizeof persist::kMagic) != 0) src.fail("bad magic (not a veloxquant cache file)");
  Reader r(h + 8, persist::kHeaderBytes - 8, "cache file '" + src.name() + "' header");
  Header out;
  out.version = r.u32("version");
  out.section_count = r.u32("section count");
  out.file_bytes = r.u64("file size");
  const std::uint32_t flags = r.u32("flags");
  const std::uint32_t crc = r.u32("header checksum");
  if (crc != crc32(h, persist::kHeaderBytes - 4)) src.fail("header checksum mismatch (corrupted)");
  if (out.version != kCacheFileVersion && out.version != kCacheFileVersionPlain)
    src.fail("unsupported format version " + std::to_string(out.version) + " (this build reads " +
             std::to_string(kCacheFileVersion) + " and " + std::to_string(kCacheFileVersionPlain) + ")");
  if (flags != 0) src.fail("unknown header flags " + std::to_string(flags));
  if (out.file_bytes != src.size())
    src.fail("is " + std::to_string(src.size()) + " bytes but its header says " + std::to_string(out.file_bytes) +
             " (truncated or extended)");
  const std::uint64_t min_section = persist::kSectionHeaderBytes + persist::kSectionTrailerBytes;
  if (out.section_count < out.fixed_sections() ||
      out.section_count > (src.size() - persist::kHeaderBytes) / min_section)
    src.fail("section count " + std::to_string(out.section_count) + " does not fit the file size");
  return out;
}

struct Section {
  std::uint32_t tag = 0;
  std::uint64_t offset = 0;
  std::span<const std::uint8_t> payload;  // inside the source
  bool crc_ok = false;
};

// Reads the section at `offset` (sizes checked against the file before allocating).
Section read_section(const Source& src, std::uint64_t offset) {
  const std::uint64_t min_section = persist::kSectionHeaderBytes + persist::kSectionTrailerBytes;
  if (src.size() - offset < min_section)
    src.fail("truncated: no room for a section at offset " + std::to_string(offset));
  const std::uint8_t* h = src.bytes(offset, persist::kSectionHeaderBytes).data();
  Reader r(h, persist::kSectionHeaderBytes, "cache file '" + src.name() + "'");
  Section s;
  s.offset = offset;
  s.tag = r.u32("section tag");
  const std::uint32_t reserved = r.u32("section reserved field");
  const std::uint64_t bytes = r.u64("section size");
  const std::string where = "section " + persist::tag_name(s.tag) + " at offset " + std::to_string(offset);
  if (reserved != 0) src.fail(where + " has a non-zero reserved field");
  if (bytes > src.size() - offset - min_section)
    src.fail(where + " claims " + std::to_string(bytes) + " bytes, only " +
             std::to_string(src.size() - offset - min_section) + " remain");
  s.payload = src.bytes(offset + persist::kSectionHeaderBytes, bytes);
  std::uint32_t stored;
  std::memcpy(&stored, src.bytes(offset + persist::kSectionHeaderBytes + bytes, 4).data(), 4);
  s.crc_ok = stored == crc32(s.payload.data(), s.payload.size(), crc32(h, persist::kSectionHeaderBytes));
  return s;
}

Section expect_section(const Source& src, std::uint64_t& offset, std::uint32_t tag) {
  Section s = read_section(src, offset);
  const std::string where = "section " + persist::tag_name(s.tag) + " at offset " + std::to_string(offset);
  if (s.tag != tag) src.fail(where + ": expected " + persist::tag_name(tag));
  if (!s.crc_ok) src.fail(where + ": checksum mismatch (corrupted)");
  offset += persist::kSectionHeaderBytes + s.payload.size() + persist::kSectionTrailerBytes;
  return s;
}

struct StoredConfig {
  CacheConfig config;
  std::uint64_t key_code_size = 0, value_code_size = 0, exact_code_size = 0;
};

StoredConfig parse_config(const Source& src, const Section& s) {
  Reader r(s.payload.data(), s.payload.size(), "cache file '" + src.name() + "' section CONF");
  StoredConfig out;
  CacheConfig& c = out.config;
  c.layers = r.u64("layers");
  c.kv_heads = r.u64("kv_heads");
  c.q_heads = r.u64("q_heads");
  c.head_dim = r.u64("head_dim");
  c.key_format = r.str("key_format");
  c.value_format = r.str("value_format");
  c.exact_format = r.str("exact_format");
  c.window = r.u64("window");
  c.sinks = r.u64("sinks");
  c.max_tokens = r.u64("max_tokens");
  c.calibration_tokens = r.u64("calibration_tokens");
  c.page_tokens = r.u64("page_tokens");
  c.seed = r.u64("seed");
  c.threads = r.u64("threads");
  c.scale = r.f32("scale");
  out.key_code_size = r.u64("key record size");
  out.value_code_size = r.u64("value record size");
  out.exact_code_size = r.u64("exact record size");
  r.expect_end();
  return out;
}

// What a layer stores, as the file says (version 2's per-layer formats).
struct StoredLayerFormats {
  std::uint64_t key_code_size = 0, value_code_size = 0;
  std::uint32_t key_fingerprint = 0, value_fingerprint = 0;
};

struct StoredAttention {
  std::vector<std::size_t> evicted;               // [layers]
  std::vector<StoredLayerFormats> layer_formats;  // [layers] or none
};

// Version 2's ATTN section: soft-capping, sliding windows and per-layer formats into the
// configuration (checked by KVCache's own validation), evicted counts per layer. Counts are
// bounded by the payload before anything is sized from them.
StoredAttention parse_attention(const Source& src, const Section& s, CacheConfig& c) {
  Reader r(s.payload.data(), s.payload.size(), "cache file '" + src.name() + "' section ATTN");
  c.softcap = r.f32("softcap");
  const std::uint64_t windows = r.u64("sliding window count");
  if (windows != 0 && windows != c.layers)
    r.fail("sliding window count " + std::to_string(windows) +
           " is neither 0 nor layers = " + std::to_string(c.layers));
  if (c.layers > s.payload.size() / 8 || windows > s.payload.size() / 8)
    r.fail(std::to_string(s.payload.size()) + " bytes cannot hold " + std::to_string(c.layers) + " layers");
  c.sliding_windows.resize(windows);
  for (std::size_t& w : c.sliding_windows) w = r.u64("sliding window");
  StoredAttention out;
  out.evicted.resize(c.layers);
  for (std::size_t& e : out.evicted) e = r.u64("evicted tokens");
  const std::uint64_t formats = r.u64("layer format count");
  if (formats != 0 && formats != c.layers)
    r.fail("layer format count " + std::to_string(formats) + " is neither 0 nor layers = " + std::to_string(c.layers));
  if (formats > 0) {
    c.layer_key_formats.resize(c.layers);
    c.layer_value_formats.resize(c.layers);
    out.layer_formats.resize(c.layers);
  }
  for (std::size_t l = 0; l < formats; ++l) {
    c.layer_key_formats[l] = r.str("layer key format");
    c.layer_value_formats[l] = r.str("layer value format");
    StoredLayerFormats& f = out.layer_formats[l];
    f.key_code_size = r.u64("layer key record size");
    f.value_code_size = r.u64("layer value record size");
    f.key_fingerprint = r.u32("layer key format fingerprint");
    f.value_fingerprint = r.u32("layer value format fingerprint");
  }
  r.expect_end();
  // A list without a name of its own is no list (the writer lists both when either names one).
  for (auto* list : {&c.layer_key_formats, &c.layer_value_formats})
    if (std::all_of(list->begin(), list->end(), [](const std::string& name) { return name.empty(); })) list->clear();
  return out;
}

// Limits checked before the configuration builds anything.
void check_config_limits(const Source& src, const Header& h, const CacheConfig& c) {
  const auto bad = [&](const std::string& what) { src.fail("configuration: " + what); };
  if (c.layers != h.section_count - h.fixed_sections())
    bad("layers = " + std::to_string(c.layers) + " but the file has " +
        std::to_string(h.section_count - h.fixed_sections()) + " layer sections");
  if (c.head_dim == 0 || c.head_dim > persist::kMaxHeadDim)
    bad("head_dim = " + std::to_string(c.head_dim) + " is outside [1, " + std::to_string(persist::kMaxHeadDim) + "]");
  // Every KV head takes at least 28 bytes in every layer section.
  if (c.kv_heads == 0 || c.kv_heads > h.file_bytes / 28 / std::max<std::size_t>(c.layers, 1))
    bad("kv_heads = " + std::to_string(c.kv_heads) + " does not fit the file size");
  if (c.q_heads > c.kv_heads * 1024) bad("q_heads = " + std::to_string(c.q_heads) + " is implausible");
  for (const auto& [name, v] : {std::pair<const char*, std::size_t>{"window", c.window},
                                {"sinks", c.sinks},
                                {"page_tokens", c.page_tokens},
                                {"calibration_tokens", c.calibration_tokens}})
    if (v > persist::kMaxTokensPerPart) bad(std::string(name) + " = " + std::to_string(v) + " is implausibly large");
  if (c.threads > persist::kMaxThreads) bad("threads = " + std::to_string(c.threads) + " is implausibly large");
}

// The window ring (window records) and the last page (page_tokens records) are allocated whole
// even when the file holds few of their records, so their size comes from the configuration,
// not from the file. Bound it by the file size, so a small file cannot demand gigabytes: the
// most a cache's rings and one page per head may take is 1 GiB plus 64 bytes per file byte.
void check_slack_budget(const Source& src, const KVCache::Impl& impl) {
  const CacheConfig& c = impl.config;
  long double total = 0.0L;
  for (const LayerFormats& f : impl.formats)
    total += (2.0L * c.window * impl.exact_code_size +
              static_cast<long double>(c.page_tokens) * (f.key_code_size + f.value_code_size)) *
             c.kv_heads;
  const long double budget = (1ull << 30) + 64.0L * src.size();
  if (total > budget)
    src.fail("configuration: window and page buffers would take " + std::to_string(static_cast<double>(total)) +
             " bytes, implausible for a file of " + std::to_string(src.size()) + " bytes");
}

// Paged records must hold finite scales: a record whose fp16 scale (or QJL norm, PolarQuant
// radius, TurboQuant-Prod γ; or an f32/f16 value) is Inf or NaN turns every attention output that
// sees it into NaN.
// Codes themselves are indices and cannot be non-finite, so scoring each record against a fixed
// query finds exactly those (Inf · anything non-zero is Inf, Inf · 0 and NaN · anything are NaN),
// at the cost of one dot product per record rather than a decode. Returns the first bad record.
std::size_t first_nonfinite_record(const Quantizer& q, const std::uint8_t* records, std::size_t count) {
  constexpr std::size_t kChunk = 256;
  const std::size_t cs = q.code_size();
  const std::vector<float> probe(q.dim(), 1.0f);
  std::vector<float> prepared(q.query_size()), scores(kChunk);
  std::vector<std::uint8_t> aligned(kChunk * cs);  // file records may sit at odd offsets
  q.prepare_query(probe.data(), prepared.data());
  for (std::size_t t0 = 0; t0 < count; t0 += kChunk) {
    const std::size_t n = std::min(kChunk, count - t0);
    std::memcpy(aligned.data(), records + t0 * cs, n * cs);
    q.score(1, prepared.data(), n, aligned.data(), scores.data());
    for (std::size_t t = 0; t < n; ++t)
      if (!std::isfinite(scores[t])) return t0 + t;
  }
  return count;
}

// Parses one layer section into the cache's layer (counts validated against the payload first).
void load_layer(const Source& src, KVCache::Impl& impl, std::size_t index, const Section& s) {
  const CacheConfig& c = impl.config;
  Reader r(s.payload.data(), s.payload.size(), "cache file '" + src.name() + "' layer " + std::to_string(index));
  if (r.u64("layer index") != index) r.fail("layer sections out of order");
  CacheLayer& layer = impl.layers[index];
  const std::uint64_t sinks = r.u64("sinks"), page_skip = r.u64("page_skip"), paged = r.u64("paged");
  const std::uint64_t window_start = r.u64("window_start"), window_count = r.u64("window_count");
  if (sinks > impl.layer_sinks(index))
    r.fail("holds " + std::to_string(sinks) + " sinks, the configuration allows " +
           std::to_string(impl.layer_sinks(index)));
  if (window_count > c.window)
    r.fail("window holds " + std::to_string(window_count) + " tokens, window = " + std::to_string(c.window));
  if (c.window == 0 ? window_start != 0 : window_start >= c.window)
    r.fail("window_start " + std::to_string(window_start) + " is out of range");
  if (page_skip >= c.page_tokens) r.fail("page_skip " + std::to_string(page_skip) + " is not below page_tokens");
  const LayerFormats& f = impl.formats[index];
  const std::size_t es = impl.exact_code_size, kcs = f.key_code_size, vcs = f.value_code_size;
  // paged records must be present: bound paged by the payload before any multiplication.
  if (paged > s.payload.size() / std::max<std::size_t>(kcs + vcs, 1))
    r.fail("paged = " + std::to_string(paged) + " does not fit the section");
  if (c.max_tokens > 0 && sinks + paged + window_count > c.max_tokens)
    r.fail("holds more than max_tokens = " + std::to_string(c.max_tokens) + " tokens");
  layer.sinks = sinks;
  layer.page_skip = page_skip;
  layer.paged = paged;
  layer.window_start = window_start;
  layer.window_count = window_count;
  const std::size_t pt = c.page_tokens;
  const std::size_t n_pages = (page_skip + paged + pt - 1) / pt;
  for (std::size_t h = 0; h < c.kv_heads; ++h) {
    CacheHead& head = layer.heads[h];
    head.key_seed = r.u64("key seed");
    head.value_seed = r.u64("value seed");
    const std::uint32_t flags = r.u32("head flags");
    if (flags & ~persist::kHeadFlagsKnown) r.fail("unknown head flags " + std::to_string(flags));
    const std::uint32_t nk = r.u32("key outlier count"), nv = r.u32("value outlier count");
    const bool built = flags & persist::kHeadQuantizersBuilt;
    if (built ? (nk != f.key_outlier_count || nv != f.value_outlier_count) : (nk != 0 || nv != 0))
      r.fail("head " + std::to_string(h) + " has " + std::to_string(nk) + "/" + std::to_string(nv) +
             " outlier channels, the formats need " + std::to_string(f.key_outlier_count) + "/" +
             std::to_string(f.value_outlier_count));
    if (!built && paged > 0) r.fail("head " + std::to_string(h) + " holds compressed records but no quantizers");
    if (sinks > 0 && !(flags & persist::kHeadSinksReserved)) r.fail("sinks held without sink storage");
    if (window_count > 0 && !(flags & persist::kHeadWindowAllocated)) r.fail("window tokens held without a window");
    for (int part = 0; part < 2; ++part) {
      std::vector<std::uint32_t>& list = part == 0 ? head.key_outliers : head.value_outliers;
      list.resize(part == 0 ? nk : nv);
      r.get(list.data(), list.size() * 4, "outlier channels");
      for (std::size_t i = 0; i < list.size(); ++i)
        if (list[i] >= c.head_dim || (i > 0 && list[i] <= list[i - 1]))
          r.fail("outlier channels are not ascending channels of head_dim");
    }
    const std::uint8_t* sink_k = r.take(sinks * es, "sink keys");
    const std::uint8_t* sink_v = r.take(sinks * es, "sink values");
    const std::uint8_t* page_k = r.take(paged * kcs, "paged keys");
    const std::uint8_t* page_v = r.take(paged * vcs, "paged values");
    const std::uint8_t* win_k = r.take(window_count * es, "window keys");
    const std::uint8_t* win_v = r.take(window_count * es, "window values");
    // Exact records must hold what append would have accepted: garbage decoding to Inf or to a
    // vector too large to compress would make every later append fail.
    const auto check_exact = [&](const std::uint8_t* records, std::size_t count, bool keys, const char* part) {
      if (count == 0) return;
      std::vector<float> x(count * c.head_dim);
      // Records in the file may sit at odd offsets; decoders expect them 2-byte aligned.
      const std::vector<std::uint8_t> aligned(records, records + count * es);
      impl.exact->decode(count, aligned.data(), x.data());
      try {
        check_storable(impl, index, keys ? "key" : "value", x.data(), count, 1, keys);
      } catch (const std::invalid_argument& e) {
        r.fail("head " + std::to_string(h) + " " + part + ": " + e.what());
      }
    };
    check_exact(sink_k, sinks, true, "sinks");
    check_exact(sink_v, sinks, false, "sinks");
    check_exact(win_k, window_count, true, "window");
    check_exact(win_v, window_count, false, "window");
    // Everything of this head is present: build it.
    if (built) {
      head.key_quantizer = make_quantizer(f.key_spec, c.head_dim, head.key_seed, head.key_outliers);
      head.value_quantizer = make_quantizer(f.value_spec, c.head_dim, head.value_seed, head.value_outliers);
      for (int part = 0; part < 2; ++part) {
        const Quantizer& q = part == 0 ? *head.key_quantizer : *head.value_quantizer;
        const std::size_t bad = first_nonfinite_record(q, part == 0 ? page_k : page_v, paged);
        if (bad < paged)
          r.fail("head " + std::to_string(h) + " paged " + (part == 0 ? "key" : "value") + " record " +
                 std::to_string(bad) + " (" + q.name() + ") has a non-finite scale or value");
      }
    }
    if (flags & persist::kHeadSinksReserved) {
      head.sink_keys.reserve(c.sinks * es);
      head.sink_values.reserve(c.sinks * es);
    }
    head.sink_keys.assign(sink_k, sink_k + sinks * es);
    head.sink_values.assign(sink_v, sink_v + sinks * es);
    head.pages.resize(n_pages);
    for (CachePage& page : head.pages) {
      page.keys.assign(pt * kcs, 0);
      page.values.assign(pt * vcs, 0);
    }
    for (std::size_t i = 0; i < paged; ++i) {
      const std::size_t at = page_skip + i;
      put_page_record(impl, *head.key_quantizer, BlockOrder::kKeys, page_k + i * kcs, head.pages[at / pt].keys.data(),
                      at % pt);
      put_page_record(impl, *head.value_quantizer, BlockOrder::kValues, page_v + i * vcs,
                      head.pages[at / pt].values.data(), at % pt);
    }
    if (flags & persist::kHeadWindowAllocated) {
      head.window_keys.assign(c.window * es, 0);
      head.window_values.assign(c.window * es, 0);
      for (std::size_t j = 0; j < window_count; ++j) {
        const std::size_t slot = (window_start + j) % c.window;
        std::memcpy(head.window_keys.data() + slot * es, win_k + j * es, es);
        std::memcpy(head.window_values.data() + slot * es, win_v + j * es, es);
      }
    }
  }
  r.expect_end();
}

KVCache load_from(const Source& src) {
  const Header h = read_header(src);
  std::uint64_t offset = persist::kHeaderBytes;
  StoredConfig stored = parse_config(src, expect_section(src, offset, persist::kTagConfig));
  check_config_limits(src, h, stored.config);
  StoredAttention attention;
  attention.evicted.resize(stored.config.layers, 0);
  if (h.version == kCacheFileVersion)
    attention = parse_attention(src, expect_section(src, offset, persist::kTagAttention), stored.config);
  std::unique_ptr<KVCache> cache;
  try {
    cache = std::make_unique<KVCache>(stored.config);
  } catch (const std::invalid_argument& e) {
    src.fail(std::string("configuration rejected by this build: ") + e.what());
  }
  KVCache::Impl& impl = cache->internals();
  const auto check_size = [&](const char* what, std::uint64_t file, std::size_t build) {
    if (file != build)
      src.fail(std::string(what) + " records are " + std::to_string(file) + " bytes in the file, " +
               std::to_string(build) + " in this build");
  };
  check_size("key", stored.key_code_size, impl.defaults.key_code_size);
  check_size("value", stored.value_code_size, impl.defaults.value_code_size);
  check_size("exact", stored.exact_code_size, impl.exact_code_size);
  check_slack_budget(src, impl);

  const Section fp = expect_section(src, offset, persist::kTagFingerprint);
  Reader r(fp.payload.data(), fp.payload.size(), "cache file '" + src.name() + "' section FPRT");
  const CacheConfig& c = impl.config;
  persist::Fingerprints fingerprints(c.head_dim);
  const auto check_fingerprint = [&](const FormatSpec& format, std::uint32_t in_file) {
    if (in_file != fingerprints.of(format))
      src.fail("format '" + format.name() +
               "' encodes differently in this build (other codebooks, rotation or layout)");
  };
  for (const FormatSpec* format : {&impl.defaults.key_spec, &impl.defaults.value_spec, &impl.exact_spec})
    check_fingerprint(*format, r.u32("format fingerprint"));
  r.expect_end();
  for (std::size_t l = 0; l < attention.layer_formats.size(); ++l) {
    const StoredLayerFormats& stored_layer = attention.layer_formats[l];
    const LayerFormats& f = impl.formats[l];
    const std::string layer = "layer " + std::to_string(l) + " ";
    check_size((layer + "key").c_str(), stored_layer.key_code_size, f.key_code_size);
    check_size((layer + "value").c_str(), stored_layer.value_code_size, f.value_code_size);
    check_fingerprint(f.key_spec, stored_layer.key_fingerprint);
    check_fingerprint(f.value_spec, stored_layer.value_fingerprint);
  }

  for (std::size_t l = 0; l < c.layers; ++l) {
    load_layer(src, impl, l, expect_section(src, offset, persist::kTagLayer));
    impl.layers[l].evicted = attention.evicted[l];
  }
  if (offset != src.size()) src.fail(std::to_string(src.size() - offset) + " unexpected bytes after the last section");
  return std::move(*cache);
}

}  // namespace

KVCache load_cache(const std::string& path) {
  const MappedSource src(path);
  return load_from(src);
}

KVCache parse_cache(std::span<const std::uint8_t> image) {
  const Source src("<memory>", image);
  return load_from(src);
}

bool is_cache_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[sizeof persist::kMagic] = {};
  f.read(magic, sizeof magic);
  return f && std::memcmp(magic, persist::kMagic, sizeof magic) == 0;
}

CacheFileInfo inspect_cache_file(const std::string& path) {
  const MappedSource src(path);
  const Header h = read_header(src);
  CacheFileInfo info;
  info.version = h.version;
  info.file_bytes = h.file_bytes;
  std::uint64_t offset = persist::kHeaderBytes;
  for (std::uint32_t i = 0; i < h.section_count; ++i) {
    const Section s = read_section(src, offset);
    info.sections.push_back({persist::tag_name(s.tag), offset, s.payload.size(), s.crc_ok});
    if (s.crc_ok && s.tag == persist::kTagConfig) info.config = parse_config(src, s).config;
    if (s.crc_ok && s.tag == persist::kTagAttention) parse_attention(src, s, info.config);
    if (s.crc_ok && s.tag == persist::kTagLayer && s.payload.size() >= 48) {
      std::uint64_t counts[6];
      std::memcpy(counts, s.payload.data(), sizeof counts);
      info.layer_tokens.push_back(counts[1] + counts[3] + counts[5]);  // sinks + paged + window
    }
    offset += persist::kSectionHeaderBytes + s.payload.size() + persist::kSectionTrailerBytes;
  }
  if (offset != src.size()) src.fail(std::to_string(src.size() - offset) + " unexpected bytes after the last section");
  return info;
}

}  // namespace veloxquant
