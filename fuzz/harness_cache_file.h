// Cache file loader (parse_cache, the same code as load_cache on a mapped file): any bytes must
// load or throw FileFormatError. A loaded cache must save back to the same bytes, attend and append.
//
// CRC-32s would stop nearly every mutation at the header, so when the first input byte is odd
// the harness rewrites the header's file size and every checksum it can find before loading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cache/persist.h"
#include "cache/persist_format.h"
#include "io/crc32.h"
#include "io/file_error.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant::fuzz_harness {

inline void fix_checksums(std::vector<std::uint8_t>& b) {
  using namespace veloxquant;
  if (b.size() < persist::kHeaderBytes) return;
  const std::uint64_t size = b.size();
  std::memcpy(b.data() + 16, &size, 8);
  const std::uint32_t hc = crc32(b.data(), persist::kHeaderBytes - 4);
  std::memcpy(b.data() + persist::kHeaderBytes - 4, &hc, 4);
  const std::size_t overhead = persist::kSectionHeaderBytes + persist::kSectionTrailerBytes;
  for (std::size_t at = persist::kHeaderBytes; b.size() - at >= overhead;) {
    std::uint64_t bytes;
    std::memcpy(&bytes, b.data() + at + 8, 8);
    if (bytes > b.size() - at - overhead) return;
    const std::uint8_t* payload = b.data() + at + persist::kSectionHeaderBytes;
    const std::uint32_t c = crc32(payload, bytes, crc32(b.data() + at, persist::kSectionHeaderBytes));
    std::memcpy(b.data() + at + persist::kSectionHeaderBytes + bytes, &c, 4);
    at += overhead + bytes;
  }
}

inline int fuzz_cache_file(const std::uint8_t* data, std::size_t size) {
  using namespace veloxquant;
  if (size == 0) return 0;
  std::vector<std::uint8_t> image(data + 1, data + size);
  if (data[0] & 1) fix_checksums(image);
  // Keep executions fast: a Haar rotation (a head_dim, or an outlier split of it, that is not a
  // power of two) costs O(d³), minutes at d = 4095 or tq2.5's 3072 of 4096 (docs/reliability.md),
  // and every head builds its own. Skip files with head_dim above 256 (d = 4096 has unit tests).
  const std::size_t conf = persist::kHeaderBytes + persist::kSectionHeaderBytes;
  if (image.size() >= conf + 32) {
    std::uint64_t layers, heads, dim;
    std::memcpy(&layers, image.data() + conf, 8);
    std::memcpy(&heads, image.data() + conf + 8, 8);
    std::memcpy(&dim, image.data() + conf + 24, 8);
    if (dim > 256 || (layers < 1024 && heads < 1024 && layers * heads * dim > (1u << 16))) return 0;
  }
  try {
    KVCache cache = parse_cache(image);
    if (serialize_cache(cache) != image) std::abort();  // load → save reproduces the file
    const CacheConfig& c = cache.config();
    std::vector<float> q(c.q_heads * c.head_dim, 0.5f), out(q.size());
    std::vector<float> kv(c.kv_heads * c.head_dim, 0.25f);
    // f32 and bf16 records may hold any finite value, so q·k can overflow float32: attend then
    // refuses the query (std::invalid_argument naming the overflow) rather than return NaN.
    const auto attend = [&](std::size_t l) {
      try {
        cache.attend(l, 1, q.data(), out.data());
      } catch (const std::invalid_argument& e) {
        if (!std::strstr(e.what(), "overflow float32")) throw;
      }
    };
    for (std::size_t l = 0; l < c.layers && l < 4; ++l) {
      if (cache.size(l) > 0) attend(l);
      cache.append(l, 1, kv.data(), kv.data());
      attend(l);
    }
  } catch (const FileFormatError&) {
  }
  return 0;
}

}  // namespace veloxquant::fuzz_harness
