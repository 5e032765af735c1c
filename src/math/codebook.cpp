#include "veloxquant/codebook.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "math/quadrature.h"

namespace veloxquant {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Moments ∫ t^k f(t) dt, k = 0, 1, 2, of a density over a cell [a, b].
struct Moments {
  double m0 = 0, m1 = 0, m2 = 0;
};

// Initial centroids: quantiles of f^(1/3) on a fine grid, the asymptotically optimal point
// density (Panter–Dite), which leaves few iterations to do.
template <class Density>
std::vector<double> initial_centroids(const Density& density, double lo, double hi, int levels) {
  constexpr int kGrid = 1 << 14;
  std::vector<double> cdf(kGrid + 1, 0.0);
  const double step = (hi - lo) / kGrid;
  for (int i = 0; i < kGrid; ++i) {
    const double t = lo + (i + 0.5) * step;
    cdf[i + 1] = cdf[i] + std::cbrt(std::max(density(t), 0.0));
  }
  std::vector<double> c(levels);
  for (int i = 0; i < levels; ++i) {
    const double target = (i + 0.5) / levels * cdf[kGrid];
    const auto it = std::lower_bound(cdf.begin(), cdf.end(), target);
    const int k = std::clamp(static_cast<int>(it - cdf.begin()), 1, kGrid);
    const double frac = (target - cdf[k - 1]) / std::max(cdf[k] - cdf[k - 1], 1e-300);
    c[i] = lo + (k - 1 + frac) * step;
  }
  return c;
}

// Solves the tridiagonal system (lower, diag, upper)·x = rhs in place (Thomas algorithm; diag and
// rhs are overwritten, x is left in rhs).
void solve_tridiagonal(const std::vector<double>& lower, std::vector<double>& diag, const std::vector<double>& upper,
                       std::vector<double>& rhs) {
  const std::size_t n = rhs.size();
  for (std::size_t i = 1; i < n; ++i) {
    const double w = lower[i] / diag[i - 1];
    diag[i] -= w * upper[i - 1];
    rhs[i] -= w * rhs[i - 1];
  }
  rhs[n - 1] /= diag[n - 1];
  for (std::size_t i = n - 1; i-- > 0;) rhs[i] = (rhs[i] - upper[i] * rhs[i + 1]) / diag[i];
}

// The cells of a set of centroids: edges at the midpoints, each cell's moments, and the residual
// g_i = c_i − E[t | cell i], whose zero is the Lloyd–Max quantizer.
template <class CellMoments>
struct LloydCells {
  const CellMoments& moments;
  std::vector<double> edges;  // [levels + 1], edges[0] = lo, edges[levels] = hi
  std::vector<Moments> m;     // [levels]

  LloydCells(const CellMoments& moments, double lo, double hi, int levels)
      : moments(moments), edges(levels + 1), m(levels) {
    edges[0] = lo;
    edges[levels] = hi;
  }
  // Sets edges and moments for centroids cs, writes g and returns max |g_i|.
  double residual(const std::vector<double>& cs, std::vector<double>& g) {
    const int levels = static_cast<int>(m.size());
    for (int i = 1; i < levels; ++i) edges[i] = 0.5 * (cs[i - 1] + cs[i]);
    double worst = 0.0;
    for (int i = 0; i < levels; ++i) {
      m[i] = moments(edges[i], edges[i + 1], i == 0 || i == levels - 1);
      g[i] = m[i].m0 > 0.0 ? cs[i] - m[i].m1 / m[i].m0 : 0.0;
      worst = std::max(worst, std::fabs(g[i]));
    }
    return worst;
  }
};

// The Newton direction for the residual g at the cells' current state: g's Jacobian is
// tridiagonal, since each edge is the midpoint of two centroids.
template <class CellMoments, class Density>
std::vector<double> newton_direction(const LloydCells<CellMoments>& cells, const Density& density,
                                     const std::vector<double>& g) {
  const std::size_t levels = g.size();
  std::vector<double> lower(levels), diag(levels), upper(levels), rhs(levels);
  for (std::size_t i = 0; i < levels; ++i) {
    const Moments& m = cells.m[i];
    const double mu = m.m1 / m.m0;
    // ∂μ_i/∂e_i and ∂μ_i/∂e_{i+1}.
    const double d_left = i > 0 ? -density(cells.edges[i]) * (cells.edges[i] - mu) / m.m0 : 0.0;
    const double d_right = i + 1 < levels ? density(cells.edges[i + 1]) * (cells.edges[i + 1] - mu) / m.m0 : 0.0;
    lower[i] = -0.5 * d_left;
    upper[i] = -0.5 * d_right;
    diag[i] = 1.0 - 0.5 * d_left - 0.5 * d_right;
    rhs[i] = -g[i];
  }
  solve_tridiagonal(lower, diag, upper, rhs);
  return rhs;
}

// Solves Lloyd–Max given a cell-moment function on [lo, hi]: damped Newton on the residual, with
// a Lloyd step whenever Newton fails to reduce it. Converges to round-off in a few dozen steps
// even for 256 levels.
template <class CellMoments, class Density>
Codebook solve_lloyd_max(const CellMoments& moments, const Density& density, double lo, double hi, int bits) {
  const int levels = 1 << bits;
  std::vector<double> c = initial_centroids(density, lo, hi, levels);
  LloydCells<CellMoments> cells(moments, lo, hi, levels);
  std::vector<double> g(levels), trial(levels), trial_g(levels);
  double err = cells.residual(c, g);
  for (int iter = 0; iter < 500 && err > 1e-15 * (hi - lo); ++iter) {
    const std::vector<double> direction = newton_direction(cells, density, g);
    bool improved = false;
    for (double step = 1.0; step > 1e-3 && !improved; step *= 0.5) {
      bool ordered = true;
      for (int i = 0; i < levels; ++i) {
        trial[i] = c[i] + step * direction[i];
        if (i > 0 && !(trial[i] > trial[i - 1])) ordered = false;
      }
      if (!ordered || trial[0] <= lo || trial[levels - 1] >= hi) continue;
      const double trial_err = cells.residual(trial, trial_g);
      if (trial_err < err) {
        c.swap(trial);
        g.swap(trial_g);
        err = trial_err;
        improved = true;
      }
    }
    if (!improved) {  // Lloyd step: move every centroid to its cell's mean
      for (int i = 0; i < levels; ++i) c[i] -= g[i];
      const double before = err;
      err = cells.residual(c, g);
      if (err >= before) break;  // at round-off
    }
  }
  cells.residual(c, g);  // moments and edges of the final centroids
  Codebook cb;
  cb.bits = bits;
  double mse = 0.0, mass = 0.0;
  for (int i = 0; i < levels; ++i) {
    const Moments& m = cells.m[i];
    mse += m.m2 - 2.0 * c[i] * m.m1 + c[i] * c[i] * m.m0;
    mass += m.m0;
    cb.centroids.push_back(static_cast<float>(c[i]));
  }
  cb.mse = mse / mass;
  for (int i = 1; i < levels; ++i) cb.boundaries.push_back(static_cast<float>(cells.edges[i]));
  return cb;
}

void check_bits(int bits) {
  if (bits < 1 || bits > 8) throw std::invalid_argument("codebook bits must be in 1..8, got " + std::to_string(bits));
}

// log Γ(x) for x > 0. std::lgamma writes the global `signgam` (POSIX), a data race when codebooks
// are solved on several threads at once (ThreadSanitizer); lgamma_r returns the sign instead.
double log_gamma(double x) {
  int sign = 0;
  return ::lgamma_r(x, &sign);
}

// log of the normalising constant Γ(d/2) / (√π Γ((d−1)/2)).
double log_sphere_constant(std::size_t dim) {
  const double d = static_cast<double>(dim);
  return log_gamma(d / 2.0) - 0.5 * std::log(kPi) - log_gamma((d - 1.0) / 2.0);
}

Codebook solve_sphere_codebook(std::size_t dim, int bits) {
  const double d = static_cast<double>(dim);
  const double log_c = log_sphere_constant(dim);
  // Substituting t = sin θ makes the integrand C cos^(d−2) θ smooth for every d ≥ 2.
  auto moments = [&](double a, double b, bool tail) {
    Moments m;
    const double ta = std::asin(std::clamp(a, -1.0, 1.0)), tb = std::asin(std::clamp(b, -1.0, 1.0));
    const GaussLegendre& rule = gauss_legendre(20);
    const int pieces = tail ? 32 : 4;
    const double h = (tb - ta) / pieces;
    for (int p = 0; p < pieces; ++p) {
      const double mid = ta + (p + 0.5) * h, half = 0.5 * h;
      for (std::size_t i = 0; i < rule.nodes.size(); ++i) {
        const double th = mid + half * rule.nodes[i];
        const double cs = std::cos(th);
        const double w = rule.weights[i] * half *
                         (cs > 0 ? std::exp(log_c + (d - 2.0) * std::log(cs)) : (d == 2 ? std::exp(log_c) : 0.0));
        const double t = std::sin(th);
        m.m0 += w;
        m.m1 += w * t;
        m.m2 += w * t * t;
      }
    }
    return m;
  };
  auto density = [&](double t) { return sphere_coordinate_density(dim, t); };
  // Beyond 14 standard deviations (σ = 1/√d) the density is below e^-98 of its peak.
  const double t_max = std::min(1.0, 14.0 / std::sqrt(d));
  return solve_lloyd_max(moments, density, -t_max, t_max, bits);
}

struct CodebookCache {
  std::mutex mutex;
  std::map<std::pair<std::size_t, int>, std::shared_ptr<const Codebook>> sphere;
  std::map<std::pair<int, int>, std::shared_ptr<const Codebook>> polar;
};

CodebookCache& cache() {
  static CodebookCache c;
  return c;
}

}  // namespace

double sphere_coordinate_density(std::size_t dim, double t) {
  if (dim < 2) throw std::invalid_argument("sphere density needs dim >= 2, got " + std::to_string(dim));
  if (t <= -1.0 || t >= 1.0) return 0.0;
  const double d = static_cast<double>(dim);
  return std::exp(log_sphere_constant(dim) + 0.5 * (d - 3.0) * std::log1p(-t * t));
}

Codebook lloyd_max(const std::function<double(double)>& density, double lo, double hi, int bits) {
  check_bits(bits);
  if (!(hi > lo)) throw std::invalid_argument("lloyd_max needs lo < hi");
  auto moments = [&](double a, double b, bool) {
    Moments m;
    m.m0 = integrate([&](double t) { return density(t); }, a, b);
    m.m1 = integrate([&](double t) { return t * density(t); }, a, b);
    m.m2 = integrate([&](double t) { return t * t * density(t); }, a, b);
    return m;
  };
  return solve_lloyd_max(moments, density, lo, hi, bits);
}

const Codebook& sphere_codebook(std::size_t dim, int bits) {
  check_bits(bits);
  if (dim < 2) throw std::invalid_argument("codebook dim must be >= 2, got " + std::to_string(dim));
  CodebookCache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.sphere.find({dim, bits});
    if (it != c.sphere.end()) return *it->second;
  }
  auto solved = std::make_shared<const Codebook>(solve_sphere_codebook(dim, bits));  // outside the lock
  std::lock_guard<std::mutex> lock(c.mutex);
  return *c.sphere.emplace(std::make_pair(dim, bits), solved).first->second;
}

void set_sphere_codebook(std::size_t dim, int bits, Codebook codebook) {
  check_bits(bits);
  const std::size_t levels = std::size_t{1} << bits;
  if (codebook.bits != bits || codebook.centroids.size() != levels || codebook.boundaries.size() != levels - 1)
    throw std::invalid_argument("set_sphere_codebook: codebook does not have " + std::to_string(levels) + " levels");
  for (std::size_t i = 0; i < levels; ++i) {
    if (!std::isfinite(codebook.centroids[i]) || (i > 0 && !(codebook.centroids[i] > codebook.centroids[i - 1])))
      throw std::invalid_argument("set_sphere_codebook: centroids must be finite and ascending");
  }
  for (std::size_t i = 0; i + 1 < levels; ++i) {
    if (!(codebook.boundaries[i] >= codebook.centroids[i] && codebook.boundaries[i] <= codebook.centroids[i + 1]))
      throw std::invalid_argument("set_sphere_codebook: boundaries must lie between neighbouring centroids");
  }
  CodebookCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  // Existing references stay valid: the old codebook is kept alive until the cache is torn down.
  static std::vector<std::shared_ptr<const Codebook>> retired;
  auto key = std::make_pair(dim, bits);
  if (auto it = c.sphere.find(key); it != c.sphere.end()) retired.push_back(it->second);
  c.sphere[key] = std::make_shared<const Codebook>(std::move(codebook));
}

const Codebook& polar_angle_codebook(int level, int bits) {
  check_bits(bits);
  if (level < 1 || level > 8) throw std::invalid_argument("polar level must be in 1..8, got " + std::to_string(level));
  CodebookCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.polar.find({level, bits});
  if (it != c.polar.end()) return *it->second;
  Codebook cb;
  if (level == 1) {
    // Uniform angle on the circle: uniform cells are optimal; MSE of a uniform cell is Δ²/12.
    const int levels = 1 << bits;
    const double delta = 2.0 * kPi / levels;
    cb.bits = bits;
    for (int i = 0; i < levels; ++i) cb.centroids.push_back(static_cast<float>((i + 0.5) * delta));
    for (int i = 1; i < levels; ++i) cb.boundaries.push_back(static_cast<float>(i * delta));
    cb.mse = delta * delta / 12.0;
  } else {
    const double power = std::ldexp(1.0, level - 1) - 1.0;  // sin^(2^(ℓ−1) − 1)(2ψ)
    cb = lloyd_max([power](double psi) { return std::pow(std::max(std::sin(2.0 * psi), 0.0), power); }, 0.0, kPi / 2,
                   bits);
  }
  return *c.polar.emplace(std::make_pair(level, bits), std::make_shared<const Codebook>(std::move(cb))).first->second;
}

int nearest_centroid(const Codebook& codebook, float x) {
  // Boundaries are ascending: the index is the number of boundaries strictly below x.
  return static_cast<int>(std::lower_bound(codebook.boundaries.begin(), codebook.boundaries.end(), x) -
                          codebook.boundaries.begin());
}

}  // namespace veloxquant
