// C API: quantizers.
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "capi/capi_status.h"
#include "veloxquant/quantizer.h"
#include "veloxquant/veloxquant.h"

struct vq_quantizer {
  std::unique_ptr<veloxquant::Quantizer> q;
};

namespace {

using veloxquant::capi::fail;
using veloxquant::capi::guarded;

// Null data pointers are allowed only for empty batches.
bool missing(const void* p, std::size_t n) { return p == nullptr && n != 0; }

}  // namespace

extern "C" {

vq_status vq_quantizer_create(const char* format, size_t dim, uint64_t seed, vq_quantizer** out) {
  if (!out) return fail(VQ_INVALID_ARGUMENT, "vq_quantizer_create: out is NULL");
  *out = nullptr;
  if (!format) return fail(VQ_INVALID_ARGUMENT, "vq_quantizer_create: format is NULL");
  return guarded([&] { *out = new vq_quantizer{veloxquant::make_quantizer(format, dim, seed)}; });
}

void vq_quantizer_destroy(vq_quantizer* quantizer) { delete quantizer; }

size_t vq_quantizer_code_size(const vq_quantizer* quantizer) { return quantizer ? quantizer->q->code_size() : 0; }

vq_status vq_quantizer_encode(const vq_quantizer* quantizer, size_t n, const float* x, uint8_t* codes) {
  if (!quantizer) return fail(VQ_INVALID_ARGUMENT, "vq_quantizer_encode: quantizer is NULL");
  if (missing(x, n) || missing(codes, n)) return fail(VQ_INVALID_ARGUMENT, "vq_quantizer_encode: x or codes is NULL");
  return guarded([&] { quantizer->q->encode(n, x, codes); });
}

vq_status vq_quantizer_decode(const vq_quantizer* quantizer, size_t n, const uint8_t* codes, float* x) {
  if (!quantizer) return fail(VQ_INVALID_ARGUMENT, "vq_quantizer_decode: quantizer is NULL");
  if (missing(x, n) || missing(codes, n)) return fail(VQ_INVALID_ARGUMENT, "vq_quantizer_decode: codes or x is NULL");
  return guarded([&] { quantizer->q->decode(n, codes, x); });
}

vq_status vq_quantizer_inner_products(const vq_quantizer* quantizer, size_t n_queries, const float* q, size_t n,
                                      const uint8_t* codes, float* out) {
  if (!quantizer) return fail(VQ_INVALID_ARGUMENT, "vq_quantizer_inner_products: quantizer is NULL");
  if (missing(q, n_queries) || missing(codes, n) || missing(out, n_queries * n))
    return fail(VQ_INVALID_ARGUMENT, "vq_quantizer_inner_products: q, codes or out is NULL");
  return guarded([&] {
    const veloxquant::Quantizer& qz = *quantizer->q;
    std::vector<float> prepared(n_queries * qz.query_size());
    for (std::size_t i = 0; i < n_queries; ++i)
      qz.prepare_query(q + i * qz.dim(), prepared.data() + i * qz.query_size());
    if (n_queries > 0 && n > 0) qz.score(n_queries, prepared.data(), n, codes, out);
  });
}

}  // extern "C"
