#include "measure.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "math/prng.h"
#include "veloxquant/codebook.h"
#include "veloxquant/quantizer.h"

namespace veloxquant::cli {

namespace {

std::vector<float> random_unit_vectors(std::size_t n, std::size_t dim, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> v(n * dim);
  for (std::size_t i = 0; i < n; ++i) {
    double norm = 0.0;
    for (std::size_t j = 0; j < dim; ++j) {
      const double g = rng.normal();
      v[i * dim + j] = static_cast<float>(g);
      norm += g * g;
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (std::size_t j = 0; j < dim; ++j) v[i * dim + j] *= inv;
  }
  return v;
}

}  // namespace

FormatMeasurement measure_format(const std::string& format, std::size_t dim, std::size_t samples, std::uint64_t seed) {
  const FormatSpec spec = parse_format(format);
  const auto q = make_quantizer(spec, dim, seed);
  FormatMeasurement m;
  m.format = q->name();
  m.dim = dim;
  m.bits = spec.bits;
  m.bits_per_coord = q->bits_per_coord();
  m.code_bytes = q->code_size();

  const std::vector<float> x = random_unit_vectors(samples, dim, derive_seed(seed, 11));
  const std::vector<float> y = random_unit_vectors(samples, dim, derive_seed(seed, 12));
  std::vector<std::uint8_t> codes(samples * q->code_size());
  std::vector<double> times;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    q->encode(samples, x.data(), codes.data());
    times.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  m.encode_ns_per_vector = times[times.size() / 2] / static_cast<double>(samples);

  std::vector<float> decoded(samples * dim);
  q->decode(samples, codes.data(), decoded.data());
  double se = 0.0;
  for (std::size_t i = 0; i < samples * dim; ++i) se += (x[i] - decoded[i]) * static_cast<double>(x[i] - decoded[i]);
  m.mse = se / static_cast<double>(samples);

  // Inner products of query i with vector i, estimated on the codes as attention does.
  std::vector<float> prepared(q->query_size());
  double sum_err = 0.0, sum_sq = 0.0, st = 0.0, se_ = 0.0, stt = 0.0, see = 0.0, ste = 0.0;
  for (std::size_t i = 0; i < samples; ++i) {
    q->prepare_query(&y[i * dim], prepared.data());
    float est = 0.0f;
    q->score(1, prepared.data(), 1, &codes[i * q->code_size()], &est);
    double truth = 0.0;
    for (std::size_t j = 0; j < dim; ++j) truth += static_cast<double>(x[i * dim + j]) * y[i * dim + j];
    const double err = est - truth;
    sum_err += err;
    sum_sq += err * err;
    st += truth;
    se_ += est;
    stt += truth * truth;
    see += static_cast<double>(est) * est;
    ste += truth * est;
  }
  const double n = static_cast<double>(samples);
  m.ip_bias = sum_err / n;
  m.ip_mse = sum_sq / n;
  const double cov = ste / n - (st / n) * (se_ / n);
  const double var_t = stt / n - (st / n) * (st / n), var_e = see / n - (se_ / n) * (se_ / n);
  m.ip_corr = var_t > 0 && var_e > 0 ? cov / std::sqrt(var_t * var_e) : 0.0;

  // Theory (theory.md): D_mse = d·C(f_d, b) for plain-norm tq; D_prod ≈ (π/2)·D_mse(b−1)/d.
  const double pi = 3.14159265358979323846;
  if (spec.method == Method::kTurboMse && spec.outliers_for_dim(dim) == 0 && dim >= 2)
    m.mse_theory = static_cast<double>(dim) * sphere_codebook(dim, spec.bits).mse;
  if (spec.method == Method::kTurboProd && spec.outliers_for_dim(dim) == 0 && dim >= 2)
    m.ip_mse_theory = pi / 2.0 * sphere_codebook(dim, spec.bits - 1).mse;
  if (spec.method == Method::kQjl) {
    const double sketch = static_cast<double>(spec.qjl_dim ? spec.qjl_dim : dim);
    // Var = (π/2 − ⟨q,k⟩²)/m for unit q, k; E⟨q,k⟩² = 1/d for random directions.
    m.ip_mse_theory = (pi / 2.0 - 1.0 / static_cast<double>(dim)) / sketch;
  }
  return m;
}

}  // namespace veloxquant::cli
