// Keys in pages: plain records, or the key quantizer's blocks (Quantizer::key_block(), e.g. 16
// TurboQuant records interleaved for AVX-512 scoring) when a page holds whole blocks. Pages take
// page_tokens·key_code_size bytes either way; files hold plain records (persist_*.cpp convert).
#pragma once

#include <cstddef>
#include <cstdint>

#include "cache/cache_impl.h"

namespace veloxquant {

// Records per key block in this cache's pages: kq.key_block() if it divides page_tokens, else 1.
std::size_t page_key_block(const KVCache::Impl& impl, const Quantizer& kq);

// Key record `slot` of a page, into / out of the page's layout.
void put_page_key(const KVCache::Impl& impl, const Quantizer& kq, const std::uint8_t* rec, CachePage& page,
                  std::size_t slot);
void get_page_key(const KVCache::Impl& impl, const Quantizer& kq, const CachePage& page, std::size_t slot,
                  std::uint8_t* rec);

// scores[i·n + t] = kq.score of prepared query i against key record slot + t of the page (t < n).
void score_page_keys(const KVCache::Impl& impl, const Quantizer& kq, std::size_t n_queries, const float* prepared,
                     const CachePage& page, std::size_t slot, std::size_t n, float* scores);

}  // namespace veloxquant
