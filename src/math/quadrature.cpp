#include "math/quadrature.h"

#include <cmath>
#include <map>
#include <mutex>

namespace veloxquant {

namespace {

GaussLegendre compute_rule(int n) {
  GaussLegendre rule;
  rule.nodes.resize(n);
  rule.weights.resize(n);
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < n; ++i) {
    // Newton iteration on P_n from the Chebyshev-like initial guess.
    double x = std::cos(pi * (i + 0.75) / (n + 0.5));
    double dp = 0.0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1.0, p1 = x;
      for (int k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      const double pn = n == 0 ? 1.0 : p1, pn1 = n == 1 ? 1.0 : p0;
      dp = n * (x * pn - pn1) / (x * x - 1.0);
      const double dx = pn / dp;
      x -= dx;
      if (std::fabs(dx) < 1e-16) break;
    }
    rule.nodes[i] = x;
    rule.weights[i] = 2.0 / ((1.0 - x * x) * dp * dp);
  }
  return rule;
}

}  // namespace

const GaussLegendre& gauss_legendre(int n) {
  static std::mutex mutex;
  static std::map<int, GaussLegendre> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, compute_rule(n)).first;
  return it->second;
}

}  // namespace veloxquant
