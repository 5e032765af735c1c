#include "server/session_files.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <system_error>

#include "cache/cache_impl.h"
#include "cache/persist.h"
#include "io/atomic_file.h"
#include "io/byte_codec.h"
#include "io/crc32.h"
#include "io/file_error.h"
#include "io/mapped_file.h"

namespace veloxquant::server {

namespace {

constexpr char kMagic[8] = {'V', 'Q', 'S', 'E', 'S', 'S', 'N', '\0'};
constexpr std::size_t kHeaderBytes = 48;  // magic, version, fingerprint, id, count, cache bytes, cache crc, flags
constexpr std::size_t kSample = 4096;

std::uint32_t crc_sample(const std::uint8_t* data, std::size_t bytes, std::uint32_t crc) {
  crc = crc32(&bytes, sizeof bytes, crc);
  if (bytes <= 2 * kSample) return crc32(data, bytes, crc);
  crc = crc32(data, kSample, crc);
  return crc32(data + bytes - kSample, kSample, crc);
}

std::string hex_id(std::uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

// The configuration fields that decide what a cache holds and how it attends (threads aside).
std::string config_mismatch(const CacheConfig& a, const CacheConfig& b) {
  const auto num = [](const char* name, std::size_t x, std::size_t y) {
    return x == y ? std::string()
                  : std::string(name) + " " + std::to_string(x) + " (server: " + std::to_string(y) + ")";
  };
  const auto str = [](const char* name, const std::string& x, const std::string& y) {
    return x == y ? std::string() : std::string(name) + " '" + x + "' (server: '" + y + "')";
  };
  for (const std::string& m :
       {num("layers", a.layers, b.layers), num("kv_heads", a.kv_heads, b.kv_heads),
        num("q_heads", a.q_heads, b.q_heads), num("head_dim", a.head_dim, b.head_dim),
        str("key_format", a.key_format, b.key_format), str("value_format", a.value_format, b.value_format),
        str("exact_format", a.exact_format, b.exact_format), num("window", a.window, b.window),
        num("sinks", a.sinks, b.sinks), num("max_tokens", a.max_tokens, b.max_tokens),
        num("calibration_tokens", a.calibration_tokens, b.calibration_tokens),
        num("page_tokens", a.page_tokens, b.page_tokens), num("seed", a.seed, b.seed)})
    if (!m.empty()) return m;
  if (a.scale != b.scale) return "attention scale differs";
  if (a.softcap != b.softcap) return "attention soft-capping differs";
  if (a.sliding_windows != b.sliding_windows) return "sliding windows differ";
  for (std::size_t l = 0; l < a.layers; ++l)
    for (const std::string& m : {str("key format of a layer", key_format_of(a, l), key_format_of(b, l)),
                                 str("value format of a layer", value_format_of(a, l), value_format_of(b, l))})
      if (!m.empty()) return "layer " + std::to_string(l) + ": " + m;
  return "";
}

}  // namespace

std::uint32_t model_fingerprint(const LlamaModel& model) {
  const LlamaConfig& c = model.config();
  const std::uint64_t shape[] = {c.vocab,    c.dim,      c.layers,   c.ffn,    c.heads,
                                 c.kv_heads, c.head_dim, c.rope_dim, c.context};
  std::uint32_t crc = crc32(shape, sizeof shape);
  crc = crc32(&c.rope_base, sizeof c.rope_base, crc);
  crc = crc32(&c.rms_eps, sizeof c.rms_eps, crc);
  for (const GgufTensor& t : model.file().tensors()) {
    crc = crc32(t.name.data(), t.name.size(), crc);
    crc = crc32(t.dims.data(), t.dims.size() * sizeof(std::uint64_t), crc);
    crc = crc32(&t.type, sizeof t.type, crc);
    crc = crc_sample(t.data, t.bytes, crc);
  }
  if (model.weights_quantized()) {
    const std::string scheme = model.weight_scheme().name();
    const std::uint64_t seed = model.weight_seed();
    crc = crc32(scheme.data(), scheme.size(), crc);
    crc = crc32(&seed, sizeof seed, crc);
    for (const auto& [name, w] : model.matrices()) crc = crc_sample(w->data, w->rows * w->row_bytes, crc);
  }
  return crc;
}

SessionDir::SessionDir(std::string dir, std::uint32_t fingerprint, CacheConfig config, std::size_t vocab,
                       std::size_t max_tokens)
    : dir_(std::move(dir)),
      fingerprint_(fingerprint),
      config_(std::move(config)),
      vocab_(vocab),
      max_tokens_(max_tokens) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec || !std::filesystem::is_directory(dir_))
    throw FileIoError("session directory '" + dir_ + "': cannot create it: " + (ec ? ec.message() : "not a directory"));
}

std::string SessionDir::file(std::uint64_t id, const char* ext) const {
  return (std::filesystem::path(dir_) / (hex_id(id) + ext)).string();
}

SavedSession SessionDir::parse_tokens(const std::uint8_t* data, std::size_t size, const std::string& name) const {
  ByteReader r(data, size, "session file '" + name + "'");
  if (size < kHeaderBytes + 4) r.fail("truncated: " + std::to_string(size) + " bytes");
  if (std::memcmp(r.take(8, "magic"), kMagic, 8) != 0) r.fail("not a veloxquant session file (bad magic)");
  const std::uint32_t version = r.u32("version");
  if (version != kSessionFileVersion)
    r.fail("unsupported format version " + std::to_string(version) + " (this build reads version " +
           std::to_string(kSessionFileVersion) + ")");
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, data + size - 4, 4);
  if (crc32(data, size - 4) != stored_crc) r.fail("checksum mismatch (the file is corrupted)");
  if (r.u32("fingerprint") != fingerprint_) r.fail("saved with another model");
  SavedSession s;
  s.id = r.u64("id");
  const std::uint64_t n = r.u64("token count");
  s.cache_bytes = r.u64("cache bytes");
  s.cache_crc = r.u32("cache crc");
  if (r.u32("flags") != 0) r.fail("unknown flags");
  if (n != (size - kHeaderBytes - 4) / 4 || (size - kHeaderBytes - 4) % 4 != 0)
    r.fail("holds " + std::to_string(size) + " bytes, not the header and " + std::to_string(n) + " token ids");
  if (n == 0 || n > max_tokens_)
    r.fail(std::to_string(n) + " tokens, outside 1 … " + std::to_string(max_tokens_) + " (the server's context)");
  s.tokens.resize(n);
  r.get(s.tokens.data(), n * 4, "token ids");
  for (std::int32_t t : s.tokens)
    if (t < 0 || static_cast<std::size_t>(t) >= vocab_)
      r.fail("token id " + std::to_string(t) + " outside the vocabulary of " + std::to_string(vocab_));
  return s;
}

std::vector<SavedSession> SessionDir::scan(std::vector<std::string>& problems) const {
  std::vector<SavedSession> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::filesystem::path& p = entry.path();
    if (p.extension() != ".tokens") continue;
    try {
      const auto map = MappedFile::open(p.string(), "session file");
      SavedSession s = parse_tokens(map->data(), map->size(), p.string());
      if (p.stem().string() != hex_id(s.id))
        throw FileFormatError("session file '" + p.string() + "': holds session " + hex_id(s.id));
      std::error_code size_ec;
      const auto bytes = std::filesystem::file_size(file(s.id, ".vqkv"), size_ec);
      if (size_ec || bytes != s.cache_bytes)
        throw FileFormatError("session file '" + p.string() + "': its cache file is missing or has another size");
      out.push_back(std::move(s));
    } catch (const std::exception& e) {
      problems.push_back(e.what());
    }
  }
  if (ec) problems.push_back("session directory '" + dir_ + "': " + ec.message());
  std::sort(out.begin(), out.end(), [](const SavedSession& a, const SavedSession& b) { return a.id < b.id; });
  return out;
}

SavedSession SessionDir::save(std::uint64_t id, const std::vector<std::int32_t>& tokens, const KVCache& cache) const {
  const std::vector<std::uint8_t> image = serialize_cache(cache);
  SavedSession s{id, tokens, image.size(), crc32(image.data(), image.size())};
  write_file_atomically(file(id, ".vqkv"), "session cache",
                        [&](const ByteSink& sink) { sink(image.data(), image.size()); });
  // Header fields at fixed offsets (see kHeaderBytes), the ids, then the CRC of all before it.
  std::vector<std::uint8_t> out(kHeaderBytes + 4 * tokens.size() + 4);
  std::size_t at = 0;
  const auto put = [&](const void* p, std::size_t n) {
    std::memcpy(out.data() + at, p, n);
    at += n;
  };
  const std::uint32_t version = kSessionFileVersion, flags = 0;
  const std::uint64_t count = tokens.size();
  put(kMagic, 8);
  put(&version, 4);
  put(&fingerprint_, 4);
  put(&id, 8);
  put(&count, 8);
  put(&s.cache_bytes, 8);
  put(&s.cache_crc, 4);
  put(&flags, 4);
  if (!tokens.empty()) put(tokens.data(), 4 * tokens.size());
  const std::uint32_t crc = crc32(out.data(), at);
  put(&crc, 4);
  write_file_atomically(file(id, ".tokens"), "session tokens",
                        [&](const ByteSink& sink) { sink(out.data(), out.size()); });
  return s;
}

KVCache SessionDir::load(const SavedSession& s) const {
  const std::string path = file(s.id, ".vqkv");
  const auto map = MappedFile::open(path, "cache file");
  if (map->size() != s.cache_bytes || crc32(map->data(), map->size()) != s.cache_crc)
    throw FileFormatError("cache file '" + path + "': not the file its session file names (size or CRC-32 differs)");
  KVCache cache = [&] {
    try {
      return parse_cache(std::span<const std::uint8_t>(map->data(), map->size()));
    } catch (const FileFormatError& e) {
      throw FileFormatError("cache file '" + path + "': " + e.what());
    }
  }();
  if (const std::string m = config_mismatch(cache.config(), config_); !m.empty())
    throw FileFormatError("cache file '" + path + "': made with another cache configuration: " + m);
  for (std::size_t l = 0; l < config_.layers; ++l)
    if (cache.size(l) != s.tokens.size())
      throw FileFormatError("cache file '" + path + "': layer " + std::to_string(l) + " holds " +
                            std::to_string(cache.size(l)) + " tokens, the session " + std::to_string(s.tokens.size()));
  cache.internals().config.threads = config_.threads;  // this server's threads (results do not depend on them)
  return cache;
}

void SessionDir::remove(std::uint64_t id) const {
  std::error_code ec;
  std::filesystem::remove(file(id, ".tokens"), ec);
  std::filesystem::remove(file(id, ".vqkv"), ec);
}

}  // namespace veloxquant::server
