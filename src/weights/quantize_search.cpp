#include "weights/quantize_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "weights/block_layout.h"

namespace veloxquant::quant_search {

namespace {

constexpr float kGroupMaxEps = 1e-15f;  // below this |max| a group is all zero

// The element of largest magnitude (the first one on ties) and that magnitude.
void signed_max(std::size_t n, const float* x, float& max, float& amax) {
  max = 0.0f;
  amax = 0.0f;
  for (std::size_t i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
}

int clamp_level(int l, int lo, int hi) { return std::max(lo, std::min(hi, l)); }

}  // namespace

float symmetric_levels(std::size_t n, int nmax, const float* x, std::int8_t* L, int rmse_type, const float* weights) {
  float max, amax;
  signed_max(n, x, max, amax);
  if (!(amax >= kGroupMaxEps)) {
    std::fill(L, L + n, std::int8_t{0});
    return 0.0f;
  }
  float iscale = -static_cast<float>(nmax) / max;
  if (rmse_type == 0) {
    for (std::size_t i = 0; i < n; ++i)
      L[i] = static_cast<std::int8_t>(nmax + clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1));
    return 1.0f / iscale;
  }
  auto weight = [&](std::size_t i) { return weights ? weights[i] : x[i] * x[i]; };
  // Weighted least-squares scale for the levels of one trial inverse scale.
  auto fit = [&](float is, float& sumlx, float& suml2) {
    sumlx = suml2 = 0.0f;
    for (std::size_t i = 0; i < n; ++i) {
      const int l = clamp_level(nearest_int(is * x[i]), -nmax, nmax - 1);
      const float w = weight(i);
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
  };
  auto store = [&](float is) {
    for (std::size_t i = 0; i < n; ++i)
      L[i] = static_cast<std::int8_t>(nmax + clamp_level(nearest_int(is * x[i]), -nmax, nmax - 1));
  };
  float sumlx, suml2;
  fit(iscale, sumlx, suml2);
  store(iscale);
  float scale = suml2 > 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    fit(iscale, sumlx, suml2);
    if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
      store(iscale);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

float q3_levels(std::size_t n, int nmax, const float* x, std::int8_t* L) {
  float max, amax;
  signed_max(n, x, max, amax);
  if (!(amax >= kGroupMaxEps)) {
    std::fill(L, L + n, std::int8_t{0});
    return 0.0f;
  }
  const float iscale = -static_cast<float>(nmax) / max;
  float sumlx = 0.0f, suml2 = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const int l = clamp_level(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<std::int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  // Move one level at a time while that improves the fit (at most 5 passes).
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * static_cast<float>(L[i]);
      if (!(slx > 0.0f)) continue;
      float sl2 = suml2 - w * static_cast<float>(L[i]) * static_cast<float>(L[i]);
      const int l = clamp_level(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (l == L[i]) continue;
      slx += w * x[i] * static_cast<float>(l);
      sl2 += w * static_cast<float>(l) * static_cast<float>(l);
      if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = static_cast<std::int8_t>(l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (std::size_t i = 0; i < n; ++i) L[i] = static_cast<std::int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float offset_levels(std::size_t n, int nmax, const float* x, const float* weights, std::uint8_t* L, float& the_min,
                    float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0], sum_w = weights[0], sum_x = weights[0] * x[0];
  for (std::size_t i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0.0f) min = 0.0f;
  if (max == min) {
    std::fill(L, L + n, std::uint8_t{0});
    the_min = -min;
    return 0.0f;
  }
  auto error_of = [&](float scale, float offset, const std::uint8_t* levels) {
    float e = 0.0f;
    for (std::size_t i = 0; i < n; ++i) {
      float diff = scale * static_cast<float>(levels[i]) + offset - x[i];
      diff = use_mad ? std::fabs(diff) : diff * diff;
      e += weights[i] * diff;
    }
    return e;
  };
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1.0f / iscale;
  for (std::size_t i = 0; i < n; ++i)
    L[i] = static_cast<std::uint8_t>(clamp_level(nearest_int(iscale * (x[i] - min)), 0, nmax));
  float best_error = error_of(scale, min, L);
  if (nstep < 1) {
    the_min = -min;
    return scale;
  }
  std::uint8_t trial[256];
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (std::size_t i = 0; i < n; ++i) {
      const int l = clamp_level(nearest_int(iscale * (x[i] - min)), 0, nmax);
      trial[i] = static_cast<std::uint8_t>(l);
      const float w = weights[i], fl = static_cast<float>(l);
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0.0f)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0.0f) {
      this_min = 0.0f;
      this_scale = sum_xl / sum_l2;
    }
    const float e = error_of(this_scale, this_min, trial);
    if (e < best_error) {
      std::copy(trial, trial + n, L);
      best_error = e;
      scale = this_scale;
      min = this_min;
    }
  }
  the_min = -min;
  return scale;
}

int nearest_iq4nl_index(float x) {
  const std::int8_t* v = blocks::kIq4nlValues;
  if (!(x > static_cast<float>(v[0]))) return 0;  // also NaN
  if (x >= static_cast<float>(v[15])) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (x < static_cast<float>(v[mid]))
      hi = mid;
    else
      lo = mid;
  }
  return x - static_cast<float>(v[hi - 1]) < static_cast<float>(v[hi]) - x ? hi - 1 : hi;
}

float iq4nl_group_scale(std::size_t n, const float* x, std::uint8_t* L, int ntry) {
  float max, amax;
  signed_max(n, x, max, amax);
  if (!(amax >= kGroupMaxEps)) {
    std::fill(L, L + n, std::uint8_t{0});
    return 0.0f;
  }
  const float v0 = static_cast<float>(blocks::kIq4nlValues[0]);
  auto fit = [&](float id, float& sumqx, float& sumq2, std::uint8_t* levels) {
    sumqx = sumq2 = 0.0f;
    for (std::size_t j = 0; j < n; ++j) {
      const int l = nearest_iq4nl_index(id * x[j]);
      if (levels) levels[j] = static_cast<std::uint8_t>(l);
      const float q = static_cast<float>(blocks::kIq4nlValues[l]), w = x[j] * x[j];
      sumqx += w * q * x[j];
      sumq2 += w * q * q;
    }
  };
  float sumqx, sumq2;
  fit(1.0f / (ntry > 0 ? -max / v0 : max / v0), sumqx, sumq2, L);
  float d = sumqx / sumq2, best = d * sumqx;
  for (int t = -ntry; t <= ntry; ++t) {
    fit((static_cast<float>(t) + v0) / max, sumqx, sumq2, nullptr);
    if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

}  // namespace veloxquant::quant_search
