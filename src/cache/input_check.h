// Validation of vectors before the cache stores them (append, and exact records read from a
// cache file): finite, and within what the formats' fp16 fields hold.
#pragma once

#include <cstddef>

#include "cache/cache_impl.h"

namespace veloxquant {

// Throws std::invalid_argument naming the first non-finite element of x[n][heads][dim].
void check_finite(const char* what, const float* x, std::size_t n, std::size_t heads, std::size_t dim);

// Throws std::invalid_argument naming the first non-finite element of x[n][heads][head_dim], or
// the first vector too large for layer's key (keys = true) or value format or the exact format: a
// token stored as Inf in an f16 window, or one that cannot be compressed when it leaves the
// window, would make every later append fail.
void check_storable(const KVCache::Impl& impl, std::size_t layer, const char* what, const float* x, std::size_t n,
                    std::size_t heads, bool keys);

}  // namespace veloxquant
