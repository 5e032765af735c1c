// Saving and loading a whole KV cache to one file (format in docs/file_formats.md).
//
// The file holds the configuration, a fingerprint of every storage format (codebooks, rotations
// and record layout as this build encodes them), and per layer the counters, seeds, outlier
// channel lists and held records of every KV head; each section has a CRC-32. Loading checks
// every size against the file before allocating and throws FileFormatError (bad, truncated,
// corrupted, other version or configuration) or FileIoError (cannot open/read) with a message
// naming the file. Saving is atomic: a temporary file in the same directory, fsync, rename.
// load_cache maps the file read-only and copies records straight into the cache's pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "veloxquant/kv_cache.h"

namespace veloxquant {

// Version 2 adds a section ATTN (soft-capping, sliding windows, evicted counts) after CONF; a cache
// without them is written as version 1, byte for byte as before. Both versions load.
inline constexpr std::uint32_t kCacheFileVersion = 2;
inline constexpr std::uint32_t kCacheFileVersionPlain = 1;

// The file image of a cache (what save_cache writes). Deterministic: the same cache state gives
// the same bytes, and load → save reproduces a file exactly.
std::vector<std::uint8_t> serialize_cache(const KVCache& cache);
void save_cache(const KVCache& cache, const std::string& path);
// Saves only the first n_tokens of every layer (a prompt prefix).
void save_cache_prefix(const KVCache& cache, const std::string& path, std::size_t n_tokens);

KVCache load_cache(const std::string& path);
KVCache parse_cache(std::span<const std::uint8_t> image);  // messages name the file "<memory>"

struct CacheFileSection {
  std::string tag;           // "CONF", "ATTN", "FPRT" or "LAYR"
  std::uint64_t offset = 0;  // of the section header in the file
  std::uint64_t bytes = 0;   // payload bytes
  bool crc_ok = false;
};

struct CacheFileInfo {
  std::uint32_t version = 0;
  std::uint64_t file_bytes = 0;
  CacheConfig config;
  std::vector<std::size_t> layer_tokens;  // tokens held per layer (from sections with a good CRC)
  std::vector<CacheFileSection> sections;
};

// Reads the sections and checks their CRCs without building the cache (for `veloxquant
// inspect`). Throws like load_cache on a structural problem (bad header, truncation).
CacheFileInfo inspect_cache_file(const std::string& path);

// True when the file starts with the cache file magic.
bool is_cache_file(const std::string& path);

}  // namespace veloxquant
