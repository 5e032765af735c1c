#include "runner/gptq.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"
#include "util/half.h"
#include "veloxquant/format.h"

namespace veloxquant {

namespace {

// In place: the lower Cholesky factor L of A = L·Lᵀ (upper triangle left as is).
void cholesky_lower(std::vector<double>& a, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (std::size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0.0)) throw std::invalid_argument("matrix is not positive definite (pivot " + std::to_string(j) + ")");
    const double l = std::sqrt(d);
    a[j * n + j] = l;
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (std::size_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / l;
    }
  }
}

// M ← M·Tᵀ for the row's block-diagonal rotation T (each block of q.dim() columns through
// prepare_query), then transposed: applied twice to a symmetric H it gives T·H·Tᵀ.
std::vector<double> rotate_rows_transposed(const Quantizer& q, const std::vector<double>& m, std::size_t n) {
  const std::size_t d = q.dim();
  std::vector<float> in(d), out(d);
  std::vector<double> t(n * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t b = 0; b < n / d; ++b) {
      for (std::size_t j = 0; j < d; ++j) in[j] = static_cast<float>(m[i * n + b * d + j]);
      q.prepare_query(in.data(), out.data());
      for (std::size_t j = 0; j < d; ++j) t[(b * d + j) * n + i] = out[j];
    }
  return t;
}

}  // namespace

std::vector<double> inverse_upper_cholesky(const std::vector<double>& a, std::size_t n) {
  std::vector<double> l = a;
  cholesky_lower(l, n);
  // L⁻¹ (lower) by forward substitution, column by column.
  std::vector<double> li(n * n, 0.0);
  for (std::size_t j = 0; j < n; ++j) {
    li[j * n + j] = 1.0 / l[j * n + j];
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = 0.0;
      for (std::size_t k = j; k < i; ++k) s -= l[i * n + k] * li[k * n + j];
      li[i * n + j] = s / l[i * n + i];
    }
  }
  // A⁻¹ = L⁻ᵀ·L⁻¹, then its lower factor, transposed.
  std::vector<double> inv(n * n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j <= i; ++j) {
      double s = 0.0;
      for (std::size_t k = i; k < n; ++k) s += li[k * n + i] * li[k * n + j];
      inv[i * n + j] = inv[j * n + i] = s;
    }
  cholesky_lower(inv, n);
  std::vector<double> u(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j <= i; ++j) u[j * n + i] = inv[i * n + j];
  return u;
}

GptqEncoder::GptqEncoder(const Quantizer& q, std::size_t cols, const std::vector<double>& h, double damp)
    : q_(q),
      records_([&]() -> const RotatedRecords* {
        const RotatedRecords* r = rotated_records(q);
        if (!r && q.spec().method != Method::kQ4)
          throw std::invalid_argument("GPTQ needs a TurboQuant-MSE format (tqB, tqB:outliers=...) or q4, not " +
                                      q.name());
        return r;
      }()),
      cols_(cols) {
  if (cols == 0 || cols % q.dim() != 0 || q.query_size() != q.dim() || (!records_ && q.dim() % kernels::kQ4Group != 0))
    throw std::invalid_argument("GPTQ: " + std::to_string(cols) + " columns are not records of " +
                                std::to_string(q.dim()));
  if (h.size() != cols * cols)
    throw std::invalid_argument("GPTQ: second moment of " + std::to_string(h.size()) + " entries for " +
                                std::to_string(cols) + " columns");
  for (double v : h)
    if (!std::isfinite(v)) throw std::invalid_argument("GPTQ: second moment is not finite");
  h_ = rotate_rows_transposed(q, rotate_rows_transposed(q, h, cols), cols);
  double mean_diag = 0.0;
  for (std::size_t i = 0; i < cols; ++i) mean_diag += h_[i * cols + i] / static_cast<double>(cols);
  for (std::size_t i = 0; i < cols; ++i)
    for (std::size_t j = 0; j < i; ++j)
      h_[i * cols + j] = h_[j * cols + i] = 0.5 * (h_[i * cols + j] + h_[j * cols + i]);
  for (std::size_t i = 0; i < cols; ++i) h_[i * cols + i] += damp * mean_diag;
  try {
    u_ = inverse_upper_cholesky(h_, cols);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("GPTQ: damped input second moment: ") + e.what());
  }
}

// One row at a time: rows are independent, and GPTQ's lazy batches only regroup these same
// updates so that many rows share each pass over U (here a row's U fits in cache).
void GptqEncoder::sweep(std::vector<double>& y, const std::vector<double>& step,
                        const std::function<double(std::size_t, double)>& round, std::vector<double>& c) const {
  const std::size_t n = cols_;
  std::vector<double> inv_step(n, 0.0);
  for (std::size_t j = 0; j < n; ++j)
    if (step[j] != 0.0) inv_step[j] = 1.0 / step[j];
  c.assign(n, 0.0);
  for (std::size_t j = 0; j < n; ++j) {
    if (step[j] == 0.0) continue;  // a zero group stays zero
    c[j] = round(j, y[j]);
    const double e = (y[j] - c[j]) * step[j] / u_[j * n + j];  // in w̃ units
    const double* u = u_.data() + j * n;
    for (std::size_t k = j + 1; k < n; ++k) y[k] -= e * u[k] * inv_step[k];
  }
}

// q4 (src/quant/baselines.cpp): per group of 32 an fp16 d = max/−8 and nibbles round(x/d) + 8;
// d stays as plain q4 chooses it (q4 has no least-squares scale), the work domain is the identity.
void GptqEncoder::encode_row_q4(const float* row, std::uint8_t* recs, std::size_t stride) const {
  const std::size_t d = q_.dim(), n = cols_, g = kernels::kQ4Group;
  std::vector<double> y(n), step(n), c;
  std::vector<std::uint16_t> scales(n / g);
  for (std::size_t g0 = 0; g0 < n; g0 += g) {
    const float group_scale = kernels::q4_signed_max(row + g0, g) / -8.0f;
    scales[g0 / g] = float_to_half(group_scale);
    if (std::isinf(half_to_float(scales[g0 / g])))  // as plain q4: a clear error, nothing written
      throw std::invalid_argument("GPTQ q4: scale " + std::to_string(group_scale) + " of the group at column " +
                                  std::to_string(g0) + " exceeds the fp16 range (max 65504)");
    const float scale = half_to_float(scales[g0 / g]), inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    for (std::size_t j = g0; j < g0 + g; ++j) {
      step[j] = scale;
      y[j] = row[j] * inv;
    }
  }
  // Plain q4's rounding, in float as there: nibble = clamp(trunc(y + 8.5), 0, 15).
  sweep(
      y, step, [](std::size_t, double v) { return kernels::q4_nibble(static_cast<float>(v)) - 8.0; }, c);
  for (std::size_t g0 = 0; g0 < n; g0 += g) {  // group g0/g of block g0/d
    std::uint8_t* block = recs + g0 / d * stride + g0 % d / g * kernels::kQ4GroupBytes;
    store_u16(block, scales[g0 / g]);
    for (std::size_t j = 0; j < g / 2; ++j)
      block[2 + j] =
          static_cast<std::uint8_t>((static_cast<int>(c[g0 + j]) + 8) | (static_cast<int>(c[g0 + j + g / 2]) + 8) << 4);
  }
}

void GptqEncoder::encode_row(const float* row, std::uint8_t* recs, std::size_t stride) const {
  const std::size_t d = q_.dim(), blocks = cols_ / d, n = cols_;
  for (std::size_t j = 0; j < n; ++j)
    if (!std::isfinite(row[j])) throw std::invalid_argument("GPTQ: non-finite weight at column " + std::to_string(j));
  if (!records_) return encode_row_q4(row, recs, stride);
  const auto groups = records_->groups();
  const std::size_t ng = groups.size();
  std::vector<float> yf(n);
  std::vector<double> norms(blocks * ng);
  for (std::size_t b = 0; b < blocks; ++b)
    records_->normalize_rotate(row + b * d, yf.data() + b * d, norms.data() + b * ng);
  // Per coordinate: its group (block-major), its index inside the group's core, its grid step.
  std::vector<std::size_t> group_of(n), local(n);
  std::vector<double> step(n);
  for (std::size_t b = 0; b < blocks; ++b)
    for (std::size_t g = 0; g < ng; ++g)
      for (std::size_t j = 0; j < groups[g].core->dim(); ++j) {
        const std::size_t k = b * d + groups[g].first + j;
        group_of[k] = b * ng + g;
        local[k] = j;
        step[k] = norms[b * ng + g];
      }
  // y in units of each group's norm (exactly plain encoding's values).
  std::vector<double> y(yf.begin(), yf.end()), c;
  sweep(
      y, step,
      [&](std::size_t j, double v) {
        const Codebook& cb = groups[group_of[j] % ng].core->codebook_at(local[j]);
        // Plain encoding's rule: the index is the number of boundaries below y.
        return cb.centroids[static_cast<std::size_t>(std::count_if(
            cb.boundaries.begin(), cb.boundaries.end(), [&](float bd) { return v > static_cast<double>(bd); }))];
      },
      c);
  std::vector<double> w(n);  // w̃ = T·w, the target
  for (std::size_t j = 0; j < n; ++j) w[j] = step[j] * yf[j];
  std::vector<double> scales(norms);
  if (groups[0].core->norm_correction()) refit_scales(w, c, group_of, scales);
  std::uint16_t unused = 0;
  for (std::size_t k = 0; k < scales.size(); ++k)  // every scale checked before any record is written
    if (norms[k] != 0.0 && !TurboMseCore::scale_to_half(scales[k], unused))
      throw std::invalid_argument("GPTQ: scale " + std::to_string(scales[k]) + " of record " + std::to_string(k / ng) +
                                  " exceeds the fp16 range (max 65504)");
  std::vector<float> cf(d);
  for (std::size_t b = 0; b < blocks; ++b) {
    std::uint8_t* rec = recs + b * stride;
    for (std::size_t g = 0; g < ng; ++g) {
      const TurboMseCore& core = *groups[g].core;
      if (norms[b * ng + g] == 0.0) {  // as plain encoding: a zero vector is a zero record
        std::fill(rec + groups[g].offset, rec + groups[g].offset + core.code_size(), std::uint8_t{0});
        continue;
      }
      for (std::size_t j = 0; j < core.dim(); ++j) cf[j] = static_cast<float>(c[b * d + groups[g].first + j]);
      core.write(cf.data(), static_cast<float>(scales[b * ng + g]), rec + groups[g].offset);
    }
  }
}

// The scales s minimizing (w̃ − Σ_g s_g·ĉ_g)ᵀ H̃ (w̃ − Σ_g s_g·ĉ_g) for the chosen centroids ĉ_g of
// the nonzero groups (with H̃ = I: each group's ⟨w̃_g, ĉ_g⟩/‖ĉ_g‖², plain norm correction).
void GptqEncoder::refit_scales(const std::vector<double>& w, const std::vector<double>& c,
                               const std::vector<std::size_t>& group_of, std::vector<double>& scales) const {
  const std::size_t n = cols_;
  std::vector<std::size_t> active;  // group ids with a nonzero norm
  std::vector<std::size_t> slot(scales.size(), SIZE_MAX);
  for (std::size_t g = 0; g < scales.size(); ++g)
    if (scales[g] > 0.0) {
      slot[g] = active.size();
      active.push_back(g);
    }
  const std::size_t m = active.size();
  if (m == 0) return;
  std::vector<double> hc(m * n, 0.0);  // H̃·ĉ_g per active group
  for (std::size_t j = 0; j < n; ++j) {
    if (slot[group_of[j]] == SIZE_MAX) continue;
    double* out = hc.data() + slot[group_of[j]] * n;
    const double* hj = h_.data() + j * n;
    for (std::size_t i = 0; i < n; ++i) out[i] += hj[i] * c[j];
  }
  std::vector<double> gram(m * m, 0.0), rhs(m, 0.0);
  for (std::size_t a = 0; a < m; ++a) {
    const double* ha = hc.data() + a * n;
    for (std::size_t i = 0; i < n; ++i) {
      rhs[a] += ha[i] * w[i];
      if (slot[group_of[i]] != SIZE_MAX) gram[a * m + slot[group_of[i]]] += ha[i] * c[i];
    }
  }
  try {
    cholesky_lower(gram, m);
  } catch (const std::invalid_argument&) {
    return;  // degenerate codes: keep the rounding grid's scales
  }
  for (std::size_t a = 0; a < m; ++a) {  // forward, then back substitution
    for (std::size_t k = 0; k < a; ++k) rhs[a] -= gram[a * m + k] * rhs[k];
    rhs[a] /= gram[a * m + a];
  }
  for (std::size_t a = m; a-- > 0;) {
    for (std::size_t k = a + 1; k < m; ++k) rhs[a] -= gram[k * m + a] * rhs[k];
    rhs[a] /= gram[a * m + a];
  }
  for (std::size_t a = 0; a < m; ++a) scales[active[a]] = rhs[a];
}

}  // namespace veloxquant
