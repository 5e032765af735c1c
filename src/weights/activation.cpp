#include "weights/activation.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "util/half.h"
#include "weights/quantize_search.h"

namespace veloxquant {

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

}  // namespace

void quantize_q8_block(const float* x, std::int8_t* q, float& d, std::int16_t& sum) {
  // Plain loops without library calls, so that the compiler vectorizes them.
  float amax = 0.0f;
  bool finite = true;
  for (std::size_t j = 0; j < 32; ++j) {
    const float a = std::fabs(x[j]);
    amax = a > amax ? a : amax;
    finite &= a <= std::numeric_limits<float>::max();  // false for NaN and ±Inf
  }
  if (!finite) {
    for (std::size_t j = 0; j < 32; ++j) q[j] = 0;
    d = kNaN;
    sum = 0;
    return;
  }
  d = half_to_float(float_to_half(amax / 127.0f));
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int s = 0;
  for (std::size_t j = 0; j < 32; ++j) {
    q[j] = static_cast<std::int8_t>(quant_search::nearest_int(x[j] * id));  // |x·id| ≤ 127; ties to even
    s += q[j];
  }
  sum = static_cast<std::int16_t>(s);
}

void quantize_q8k_block(const float* x, std::int8_t* q, float& d, std::int16_t* sums16) {
  float max = 0.0f, amax = 0.0f;
  bool finite = true;
  for (std::size_t j = 0; j < 256; ++j) {
    const float a = std::fabs(x[j]);
    finite &= a <= std::numeric_limits<float>::max();
    if (a > amax) {
      amax = a;
      max = x[j];
    }
  }
  if (!finite || amax == 0.0f) {
    for (std::size_t j = 0; j < 256; ++j) q[j] = 0;
    for (std::size_t g = 0; g < 16; ++g) sums16[g] = 0;
    d = finite ? 0.0f : kNaN;
    return;
  }
  const float iscale = -127.0f / max;
  for (std::size_t g = 0; g < 16; ++g) {
    int s = 0;
    for (std::size_t j = 16 * g; j < 16 * g + 16; ++j) {
      const int v = quant_search::nearest_int(iscale * x[j]);
      q[j] = static_cast<std::int8_t>(v < 127 ? v : 127);
      s += q[j];
    }
    sums16[g] = static_cast<std::int16_t>(s);
  }
  d = 1.0f / iscale;
}

ActivationBatch quantize_activations(ActivationForm form, const float* x, std::size_t tokens, std::size_t cols,
                                     ActivationBuffer& buffer) {
  ActivationBatch a;
  a.form = form;
  a.cols = cols;
  a.tokens = tokens;
  if (form == ActivationForm::kFloat) {
    a.x = x;
    return a;
  }
  const std::size_t block = activation_block(form), group = activation_sum_group(form);
  if (cols % block != 0)
    throw std::invalid_argument("activation length " + std::to_string(cols) + " is not a multiple of " +
                                std::to_string(block));
  const std::size_t n = tokens * cols;
  if (buffer.q.size() < n) buffer.q.resize(n);
  if (buffer.d.size() < n / block) buffer.d.resize(n / block);
  if (buffer.sums.size() < n / group) buffer.sums.resize(n / group);
  if (form == ActivationForm::kQ8K && buffer.sums32.size() < n / 32) buffer.sums32.resize(n / 32);
  for (std::size_t b = 0; b < n / block; ++b) {
    if (form == ActivationForm::kQ8Blocks)
      quantize_q8_block(x + b * block, buffer.q.data() + b * block, buffer.d[b], buffer.sums[b]);
    else
      quantize_q8k_block(x + b * block, buffer.q.data() + b * block, buffer.d[b], buffer.sums.data() + b * 16);
  }
  if (form == ActivationForm::kQ8K) {
    for (std::size_t g = 0; g < n / 32; ++g)
      buffer.sums32[g] = static_cast<std::int16_t>(buffer.sums[2 * g] + buffer.sums[2 * g + 1]);
    a.sums32 = buffer.sums32.data();
  }
  a.q = buffer.q.data();
  a.d = buffer.d.data();
  a.sums = buffer.sums.data();
  return a;
}

}  // namespace veloxquant
