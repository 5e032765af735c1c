#include "cache/page_records.h"

#include <cstring>
#include <vector>

namespace veloxquant {

std::size_t page_block(const KVCache::Impl& impl, const Quantizer& q) {
  const std::size_t block = q.block_records();
  return impl.config.page_tokens % block == 0 ? block : 1;
}

void put_page_record(const KVCache::Impl& impl, const Quantizer& q, BlockOrder order, const std::uint8_t* rec,
                     std::uint8_t* page_records, std::size_t slot) {
  const std::size_t block = page_block(impl, q), cs = q.code_size();
  if (block == 1) {
    std::memcpy(page_records + slot * cs, rec, cs);
    return;
  }
  q.put_block_record(order, rec, page_records + slot / block * block * cs, slot % block);
}

void get_page_record(const KVCache::Impl& impl, const Quantizer& q, BlockOrder order, const std::uint8_t* page_records,
                     std::size_t slot, std::uint8_t* rec) {
  const std::size_t block = page_block(impl, q), cs = q.code_size();
  if (block == 1) {
    std::memcpy(rec, page_records + slot * cs, cs);
    return;
  }
  q.get_block_record(order, page_records + slot / block * block * cs, slot % block, rec);
}

namespace {

// Records [slot, slot + n) of a page lie in blocks [first, last); skip: records of block `first`
// before slot. A partial block at either end (eviction, a block's worth of the page not yet
// filled) is read whole: every byte of a page is allocated and initialised.
struct BlockSpan {
  std::size_t first, last, skip;
  BlockSpan(std::size_t block, std::size_t slot, std::size_t n)
      : first(slot / block), last((slot + n + block - 1) / block), skip(slot - first * block) {}
  std::size_t records(std::size_t block) const { return (last - first) * block; }
};

}  // namespace

void score_page_keys(const KVCache::Impl& impl, const Quantizer& kq, std::size_t n_queries, const float* prepared,
                     const CachePage& page, std::size_t slot, std::size_t n, float* scores) {
  const std::size_t block = page_block(impl, kq), cs = kq.code_size();
  if (block == 1) return kq.score(n_queries, prepared, n, page.keys.data() + slot * cs, scores);
  const BlockSpan span(block, slot, n);
  const std::uint8_t* blocks = page.keys.data() + span.first * block * cs;
  const std::size_t m = span.records(block);
  if (m == n) return kq.score_blocks(n_queries, prepared, span.last - span.first, blocks, scores);
  thread_local std::vector<float> whole;  // the whole blocks' scores, of which the wanted are kept
  whole.resize(n_queries * m);
  kq.score_blocks(n_queries, prepared, span.last - span.first, blocks, whole.data());
  for (std::size_t i = 0; i < n_queries; ++i)
    std::memcpy(scores + i * n, whole.data() + i * m + span.skip, n * sizeof(float));
}

void accumulate_page_values(const KVCache::Impl& impl, const Quantizer& vq, std::size_t n_queries, const float* weights,
                            const CachePage& page, std::size_t slot, std::size_t n, float* acc) {
  const std::size_t block = page_block(impl, vq), cs = vq.code_size();
  if (block == 1) return vq.accumulate(n_queries, weights, n, page.values.data() + slot * cs, acc);
  const BlockSpan span(block, slot, n);
  const std::uint8_t* blocks = page.values.data() + span.first * block * cs;
  const std::size_t m = span.records(block);
  if (m == n) return vq.accumulate_blocks(n_queries, weights, span.last - span.first, blocks, acc);
  thread_local std::vector<float> whole;  // the weights placed in whole blocks, zero elsewhere
  whole.assign(n_queries * m, 0.0f);
  for (std::size_t i = 0; i < n_queries; ++i)
    std::memcpy(whole.data() + i * m + span.skip, weights + i * n, n * sizeof(float));
  vq.accumulate_blocks(n_queries, whole.data(), span.last - span.first, blocks, acc);
}

}  // namespace veloxquant
