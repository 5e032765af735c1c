// Gauss–Legendre quadrature: nodes and weights on [−1, 1], computed once in double precision.
#pragma once

#include <vector>

namespace veloxquant {

struct GaussLegendre {
  std::vector<double> nodes;
  std::vector<double> weights;
};

// The n-point rule (n ≥ 1), cached per n.
const GaussLegendre& gauss_legendre(int n);

// ∫_a^b g(x) dx with `pieces` equal sub-intervals of a 20-point rule.
template <class G>
double integrate(const G& g, double a, double b, int pieces = 8) {
  const GaussLegendre& rule = gauss_legendre(20);
  const double h = (b - a) / pieces;
  double sum = 0.0;
  for (int p = 0; p < pieces; ++p) {
    const double mid = a + (p + 0.5) * h, half = 0.5 * h;
    for (std::size_t i = 0; i < rule.nodes.size(); ++i) sum += rule.weights[i] * half * g(mid + half * rule.nodes[i]);
  }
  return sum;
}

}  // namespace veloxquant
