// Keys and values in pages: plain records, or their quantizer's record blocks
// (Quantizer::block_records(), e.g. 16 TurboQuant records interleaved for AVX-512), keys in keys
// order and values in values order, when a page holds whole blocks. Pages take
// page_tokens·code_size bytes either way; files hold plain records (persist_*.cpp convert).
#pragma once

#include <cstddef>
#include <cstdint>

#include "cache/cache_impl.h"

namespace veloxquant {

// Records per block in this cache's pages for quantizer q: q.block_records() if it divides
// page_tokens, else 1.
std::size_t page_block(const KVCache::Impl& impl, const Quantizer& q);

// Record `slot` of a page's keys or values (`order`), into / out of the page's layout.
void put_page_record(const KVCache::Impl& impl, const Quantizer& q, BlockOrder order, const std::uint8_t* rec,
                     std::uint8_t* page_records, std::size_t slot);
void get_page_record(const KVCache::Impl& impl, const Quantizer& q, BlockOrder order, const std::uint8_t* page_records,
                     std::size_t slot, std::uint8_t* rec);

// scores[i·n + t] = kq.score of prepared query i against key record slot + t of the page (t < n).
void score_page_keys(const KVCache::Impl& impl, const Quantizer& kq, std::size_t n_queries, const float* prepared,
                     const CachePage& page, std::size_t slot, std::size_t n, float* scores);
// vq.accumulate of weights[i·n + t] times value record slot + t of the page (t < n) into acc.
void accumulate_page_values(const KVCache::Impl& impl, const Quantizer& vq, std::size_t n_queries, const float* weights,
                            const CachePage& page, std::size_t slot, std::size_t n, float* acc);

}  // namespace veloxquant
