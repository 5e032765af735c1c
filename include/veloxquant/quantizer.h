// One batch API for every format (as FAISS's Quantizer): encode, decode and score on codes.
//
// A vector of dimension d is stored as one fixed-size record of code_size() bytes. Attention
// never decodes records to the original domain; it works in the quantizer's "work domain":
//   score:      prepare_query(q) once (e.g. rotate it), then score records on their codes;
//   accumulate: add weighted records into an accumulator in the work domain, and map the
//               accumulator back once with finish_accumulate (e.g. rotate back).
// For the baselines the work domain is the identity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "veloxquant/format.h"

namespace veloxquant {

class Quantizer {
 public:
  virtual ~Quantizer() = default;

  const FormatSpec& spec() const { return spec_; }
  std::string name() const { return spec_.name(); }
  std::size_t dim() const { return dim_; }
  std::uint64_t seed() const { return seed_; }

  // Bytes of one record.
  virtual std::size_t code_size() const = 0;
  // Measured from the record size: 8 · code_size() / dim.
  double bits_per_coord() const { return 8.0 * static_cast<double>(code_size()) / static_cast<double>(dim_); }

  // Encodes n row vectors x[n][dim] into codes[n][code_size()]. Throws std::invalid_argument on a
  // non-finite value (naming the vector and coordinate) before writing anything, and on a scale
  // past the fp16 range when encoding meets it (the records of earlier vectors are written then;
  // callers that must not lose their buffer check ranges first, as KVCache::append does).
  void encode(std::size_t n, const float* x, std::uint8_t* codes) const;
  // Decodes n records into x[n][dim].
  virtual void decode(std::size_t n, const std::uint8_t* codes, float* x) const = 0;

  // Floats in a prepared query and in one accumulator.
  virtual std::size_t query_size() const = 0;
  virtual std::size_t accumulator_size() const = 0;
  // prepared[query_size()] from q[dim].
  virtual void prepare_query(const float* q, float* prepared) const = 0;
  // out[i·n + t] = estimate of ⟨q_i, x_t⟩ for n_queries prepared queries and n records.
  virtual void score(std::size_t n_queries, const float* prepared, std::size_t n, const std::uint8_t* codes,
                     float* out) const = 0;
  // acc[i][accumulator_size()] += Σ_t weights[i·n + t] · x_t (in the work domain).
  virtual void accumulate(std::size_t n_queries, const float* weights, std::size_t n, const std::uint8_t* codes,
                          float* acc) const = 0;
  // out[dim] = the accumulator mapped back to the original domain.
  virtual void finish_accumulate(const float* acc, float* out) const = 0;

  // Record blocks: a layout in which a cache page may store keys and values so that attention
  // reads many records per instruction (TurboQuant-MSE on AVX-512 or AVX2: 16 records
  // interleaved, in a keys or a values order; docs/kv_cache.md). block_records() records take
  // block_records()·code_size() bytes; 1 means plain records. Fixed when the quantizer is made.
  virtual std::size_t block_records() const { return 1; }
  // Record `rec` into slot r < block_records() of a block, and back out.
  virtual void put_block_record(BlockOrder order, const std::uint8_t* rec, std::uint8_t* block, std::size_t r) const;
  virtual void get_block_record(BlockOrder order, const std::uint8_t* block, std::size_t r, std::uint8_t* rec) const;
  // score() of the n_blocks·block_records() records of n_blocks consecutive blocks in keys order,
  // and accumulate() of those in values order (weights[i·n_blocks·block_records() + t]): the same
  // values as on the records.
  virtual void score_blocks(std::size_t n_queries, const float* prepared, std::size_t n_blocks,
                            const std::uint8_t* blocks, float* out) const;
  virtual void accumulate_blocks(std::size_t n_queries, const float* weights, std::size_t n_blocks,
                                 const std::uint8_t* blocks, float* acc) const;

 protected:
  Quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed) : spec_(spec), dim_(dim), seed_(seed) {}
  virtual void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const = 0;

 private:
  FormatSpec spec_;
  std::size_t dim_;
  std::uint64_t seed_;
};

// Creates the quantizer of `spec` for dimension `dim`. `outlier_channels` lists the channels of
// the outlier instance for tq formats with outliers (empty: the first n channels); its size must
// equal spec.outliers_for_dim(dim). Throws std::invalid_argument naming the bad value.
std::unique_ptr<Quantizer> make_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed,
                                          std::span<const std::uint32_t> outlier_channels = {});
std::unique_ptr<Quantizer> make_quantizer(std::string_view format, std::size_t dim, std::uint64_t seed);

}  // namespace veloxquant
