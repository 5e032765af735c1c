#include "cache/key_pages.h"

#include <cstring>
#include <vector>

namespace veloxquant {

std::size_t page_key_block(const KVCache::Impl& impl, const Quantizer& kq) {
  const std::size_t block = kq.key_block();
  return impl.config.page_tokens % block == 0 ? block : 1;
}

void put_page_key(const KVCache::Impl& impl, const Quantizer& kq, const std::uint8_t* rec, CachePage& page,
                  std::size_t slot) {
  const std::size_t block = page_key_block(impl, kq), kcs = impl.key_code_size;
  if (block == 1) {
    std::memcpy(page.keys.data() + slot * kcs, rec, kcs);
    return;
  }
  kq.put_block_record(rec, page.keys.data() + slot / block * block * kcs, slot % block);
}

void get_page_key(const KVCache::Impl& impl, const Quantizer& kq, const CachePage& page, std::size_t slot,
                  std::uint8_t* rec) {
  const std::size_t block = page_key_block(impl, kq), kcs = impl.key_code_size;
  if (block == 1) {
    std::memcpy(rec, page.keys.data() + slot * kcs, kcs);
    return;
  }
  kq.get_block_record(page.keys.data() + slot / block * block * kcs, slot % block, rec);
}

void score_page_keys(const KVCache::Impl& impl, const Quantizer& kq, std::size_t n_queries, const float* prepared,
                     const CachePage& page, std::size_t slot, std::size_t n, float* scores) {
  const std::size_t block = page_key_block(impl, kq), kcs = impl.key_code_size;
  if (block == 1) return kq.score(n_queries, prepared, n, page.keys.data() + slot * kcs, scores);
  const std::size_t first = slot / block, last = (slot + n + block - 1) / block;  // blocks [first, last)
  const std::uint8_t* blocks = page.keys.data() + first * block * kcs;
  if (slot % block == 0 && n % block == 0) return kq.score_blocks(n_queries, prepared, last - first, blocks, scores);
  // A partial block at either end (eviction, a block's worth of the page not yet filled): score
  // whole blocks (every byte of a page is allocated and initialised) and keep the wanted records.
  thread_local std::vector<float> whole;
  const std::size_t m = (last - first) * block, skip = slot - first * block;
  whole.resize(n_queries * m);
  kq.score_blocks(n_queries, prepared, last - first, blocks, whole.data());
  for (std::size_t i = 0; i < n_queries; ++i) std::memcpy(scores + i * n, whole.data() + i * m + skip, n * sizeof(float));
}

}  // namespace veloxquant
