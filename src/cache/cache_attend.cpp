// attend: per KV head, one pass over sinks, pages and window in blocks of records, scored on
// their codes for all query heads of the GQA group at once, with an online softmax. Values are
// accumulated in two accumulators per query row — the exact format's (sinks, window) and the
// value quantizer's work domain (pages) — each mapped back once at the end.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cache/cache_impl.h"
#include "cache/page_records.h"
#include "kernels/kernels.h"
#include "kernels/prefetch_stream.h"
#include "util/thread_pool.h"

namespace veloxquant {

namespace {

constexpr std::size_t kBlock = 256;           // records per score / accumulate call
constexpr std::size_t kQueryTile = 64;        // queries per pass (bounds the scratch of a long prefill)
constexpr std::size_t kPrefetchBytes = 4096;  // the head of the next block of records

// Pages are separate allocations, so the kernels' own prefetching (a fixed distance past the
// records they read) never reaches the next page: its first lines are requested here, a block early.
void prefetch_head(const std::uint8_t* records, std::size_t bytes) {
  // Into L2 (locality 2 = prefetcht1): issuing 2 × 64 lines at once into L1 stalls on its few miss
  // buffers; the kernels move the lines on into L1 just ahead of use.
  for (std::size_t b = 0; b < std::min(bytes, kPrefetchBytes); b += 64) __builtin_prefetch(records + b, 0, 2);
}

// Per-thread buffers, sized once per attend call.
struct Scratch {
  std::vector<float> prepared_exact, prepared_key;  // [rows][query_size]
  std::vector<float> acc_exact, acc_value;          // [rows][accumulator_size]
  std::vector<float> scores;                        // [rows][kBlock]
  std::vector<float> row_max, row_sum;              // [rows]
  std::vector<float> out_exact, out_value;          // [head_dim]
};

// One KV head and one tile of queries.
class HeadPass {
 public:
  HeadPass(const KVCache::Impl& impl, std::size_t layer, std::size_t h, std::size_t n_queries, Scratch& s)
      : impl_(impl),
        layer_(impl.layers[layer]),
        formats_(impl.formats[layer]),
        head_(layer_.heads[h]),
        h_(h),
        n_queries_(n_queries),
        window_(impl.sliding_window(layer)),
        s_(s) {
    group_ = impl.config.q_heads / impl.config.kv_heads;
  }

  void run(std::size_t q0, std::size_t q1, const float* q, float* out) {
    rows_ = (q1 - q0) * group_;
    const std::size_t d = impl_.config.head_dim, q_heads = impl_.config.q_heads;
    const Quantizer& exact = *impl_.exact;
    const Quantizer* kq = head_.key_quantizer.get();
    const Quantizer* vq = head_.value_quantizer.get();
    for (std::size_t r = 0; r < rows_; ++r) {
      const float* qr = q + ((q0 + r / group_) * q_heads + h_ * group_ + r % group_) * d;
      exact.prepare_query(qr, s_.prepared_exact.data() + r * exact.query_size());
      if (kq) kq->prepare_query(qr, s_.prepared_key.data() + r * kq->query_size());
    }
    std::fill_n(s_.acc_exact.begin(), rows_ * exact.accumulator_size(), 0.0f);
    if (vq) std::fill_n(s_.acc_value.begin(), rows_ * vq->accumulator_size(), 0.0f);
    std::fill_n(s_.row_max.begin(), rows_, -std::numeric_limits<float>::infinity());
    std::fill_n(s_.row_sum.begin(), rows_, 0.0f);

    // The last position any query of the tile sees.
    const std::size_t size = layer_.size();
    last_visible_ = size - n_queries_ + (q1 - 1);
    const std::size_t es = impl_.exact_code_size;

    std::size_t pos = 0;  // position of the next record
    for (std::size_t t = 0; t < layer_.sinks && pos <= last_visible_; t += kBlock) {
      const std::size_t n = std::min(kBlock, layer_.sinks - t);
      exact.score(rows_, s_.prepared_exact.data(), n, head_.sink_keys.data() + t * es, s_.scores.data());
      weigh(pos, n);
      exact.accumulate(rows_, s_.scores.data(), n, head_.sink_values.data() + t * es, s_.acc_exact.data());
      pos += n;
    }
    const std::size_t page_tokens = impl_.config.page_tokens;
    // Value blocks: their kernel streams in the next records (next_records); others: the heads
    // of the next records are requested up front.
    const bool streams = vq && page_block(impl_, *vq) > 1;
    for (std::size_t i = layer_.page_skip, end = layer_.page_skip + layer_.paged; i < end && pos <= last_visible_;) {
      const std::size_t slot = i % page_tokens;
      const std::size_t n = std::min({kBlock, end - i, page_tokens - slot});
      const CachePage& page = head_.pages[i / page_tokens];
      if (!streams && i + n < end) {  // the next block's keys and values, while this one is worked on
        const std::size_t next = i + n, next_slot = next % page_tokens;
        const CachePage& next_page = head_.pages[next / page_tokens];
        prefetch_head(next_page.keys.data() + next_slot * formats_.key_code_size,
                      (end - next) * formats_.key_code_size);
        prefetch_head(next_page.values.data() + next_slot * formats_.value_code_size,
                      (end - next) * formats_.value_code_size);
      }
      score_page_keys(impl_, *kq, rows_, s_.prepared_key.data(), page, slot, n, s_.scores.data());
      weigh(pos, n);
      const kernels::ScopedPrefetchStream next_block = next_records(i + n, end, n);
      accumulate_page_values(impl_, *vq, rows_, s_.scores.data(), page, slot, n, s_.acc_value.data());
      pos += n;
      i += n;
    }
    const std::size_t w = impl_.config.window;
    for (std::size_t j = 0; j < layer_.window_count && pos <= last_visible_;) {
      const std::size_t slot = (layer_.window_start + j) % w;
      const std::size_t n = std::min({kBlock, layer_.window_count - j, w - slot});  // up to the ring's end
      exact.score(rows_, s_.prepared_exact.data(), n, head_.window_keys.data() + slot * es, s_.scores.data());
      weigh(pos, n);
      exact.accumulate(rows_, s_.scores.data(), n, head_.window_values.data() + slot * es, s_.acc_exact.data());
      pos += n;
      j += n;
    }

    for (std::size_t r = 0; r < rows_; ++r) {
      float* o = out + ((q0 + r / group_) * q_heads + h_ * group_ + r % group_) * d;
      exact.finish_accumulate(s_.acc_exact.data() + r * exact.accumulator_size(), s_.out_exact.data());
      const float inv = 1.0f / s_.row_sum[r];  // ≥ 1: the row's maximum contributes exp(0)
      if (vq && layer_.paged > 0) {
        vq->finish_accumulate(s_.acc_value.data() + r * vq->accumulator_size(), s_.out_value.data());
        for (std::size_t c = 0; c < d; ++c) o[c] = (s_.out_exact[c] + s_.out_value[c]) * inv;
      } else {
        for (std::size_t c = 0; c < d; ++c) o[c] = s_.out_exact[c] * inv;
      }
    }
  }

 private:
  // Keys and values of up to n paged records from page index `next` (none at `end`): streamed into
  // L2 while this block's values are accumulated (the block kernel takes them in parts), so that
  // the next key pass, which reads faster than memory delivers, finds them there.
  kernels::ScopedPrefetchStream next_records(std::size_t next, std::size_t end, std::size_t n) const {
    if (next >= end) return kernels::ScopedPrefetchStream({}, {});
    const std::size_t page_tokens = impl_.config.page_tokens, slot = next % page_tokens;
    const std::size_t count = std::min({n, end - next, page_tokens - slot});
    const CachePage& page = head_.pages[next / page_tokens];
    return kernels::ScopedPrefetchStream(
        {page.keys.data() + slot * formats_.key_code_size, count * formats_.key_code_size},
        {page.values.data() + slot * formats_.value_code_size, count * formats_.value_code_size});
  }

  // Records at positions [pos, pos + n) whose keys the caller scored into s_.scores: online
  // softmax, leaving in s_.scores the weights with which the caller accumulates their values.
  void weigh(std::size_t pos, std::size_t n) {
    float* scores = s_.scores.data();
    const float cap = impl_.config.softcap;
    const float scale = cap > 0.0f ? 1.0f : impl_.scale;  // capped scores are scaled here already
    const std::size_t acc_exact_size = impl_.exact->accumulator_size();
    const std::size_t acc_value_size = head_.value_quantizer ? head_.value_quantizer->accumulator_size() : 0;
    for (std::size_t r = 0; r < rows_; ++r) {
      // Causal mask: query i sees positions ≤ size − n_queries + i; on a sliding-window layer only
      // the last window_ of them.
      const std::size_t limit = last_visible_ - (rows_ / group_ - 1 - r / group_);
      const std::size_t first = window_ > 0 && limit + 1 > window_ ? limit + 1 - window_ : 0;
      const std::size_t lo = first > pos ? std::min(n, first - pos) : 0;
      const std::size_t hi = std::max(lo, limit < pos ? 0 : std::min(n, limit - pos + 1));
      float* row = scores + r * n + lo;
      const std::size_t visible = hi - lo;
      std::fill(scores + r * n, row, 0.0f);
      std::fill(row + visible, scores + (r + 1) * n, 0.0f);
      if (visible == 0) continue;
      if (cap > 0.0f) soft_cap(row, visible, cap);
      const float block_max = kernels::row_max(row, visible) * scale;
      if (block_max > s_.row_max[r]) {
        if (s_.row_sum[r] > 0.0f) {  // rescale what was accumulated under the old maximum
          const float alpha = std::exp(s_.row_max[r] - block_max);
          s_.row_sum[r] *= alpha;
          float* ax = s_.acc_exact.data() + r * acc_exact_size;
          for (std::size_t c = 0; c < acc_exact_size; ++c) ax[c] *= alpha;
          float* av = s_.acc_value.data() + r * acc_value_size;
          for (std::size_t c = 0; c < acc_value_size; ++c) av[c] *= alpha;
        }
        s_.row_max[r] = block_max;
      }
      s_.row_sum[r] += kernels::exp_row(row, visible, scale, s_.row_max[r]);
    }
  }

  // s → cap·tanh(s·scale/cap), in llama.cpp's order (·scale, ·1/cap, tanh, ·cap) as the exact
  // attention of the runner computes it.
  void soft_cap(float* row, std::size_t n, float cap) const {
    const float scale = impl_.scale, inv_cap = 1.0f / cap;
    for (std::size_t t = 0; t < n; ++t) row[t] = cap * std::tanh(row[t] * scale * inv_cap);
  }

  const KVCache::Impl& impl_;
  const CacheLayer& layer_;
  const LayerFormats& formats_;
  const CacheHead& head_;
  std::size_t h_, n_queries_, window_, group_ = 1, rows_ = 0, last_visible_ = 0;
  Scratch& s_;
};

Scratch make_scratch(const KVCache::Impl& impl, const CacheLayer& layer, std::size_t max_rows) {
  std::size_t key_q = 0, value_acc = 0;
  for (const CacheHead& head : layer.heads) {
    if (head.key_quantizer) key_q = std::max(key_q, head.key_quantizer->query_size());
    if (head.value_quantizer) value_acc = std::max(value_acc, head.value_quantizer->accumulator_size());
  }
  const std::size_t d = impl.config.head_dim;
  Scratch s;
  s.prepared_exact.resize(max_rows * impl.exact->query_size());
  s.prepared_key.resize(max_rows * key_q);
  s.acc_exact.resize(max_rows * impl.exact->accumulator_size());
  s.acc_value.resize(max_rows * value_acc);
  s.scores.resize(max_rows * kBlock);
  s.row_max.resize(max_rows);
  s.row_sum.resize(max_rows);
  s.out_exact.resize(d);
  s.out_value.resize(d);
  return s;
}

}  // namespace

void cache_attend(const KVCache::Impl& impl, std::size_t layer_index, std::size_t n_queries, const float* q,
                  float* out) {
  const CacheLayer& layer = impl.layers[layer_index];
  const std::size_t heads = impl.config.kv_heads;
  const std::size_t group = impl.config.q_heads / heads;
  const std::size_t workers = std::min(impl.config.threads, heads);
  const std::size_t max_rows = std::min(n_queries, kQueryTile) * group;

  // Worker w takes heads w, w + workers, ...: each head's arithmetic is the same for any thread
  // count, so results are bit-identical.
  auto work = [&](std::size_t w) {
    Scratch scratch = make_scratch(impl, layer, max_rows);
    for (std::size_t h = w; h < heads; h += workers) {
      HeadPass pass(impl, layer_index, h, n_queries, scratch);
      for (std::size_t q0 = 0; q0 < n_queries; q0 += kQueryTile)
        pass.run(q0, std::min(n_queries, q0 + kQueryTile), q, out);
    }
  };
  run_on_workers(workers, work);
}

}  // namespace veloxquant
