#include "runner/calibration.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runner/kv_store.h"
#include "runner/llama_forward.h"

namespace veloxquant {

ActivationStats collect_activation_stats(const LlamaModel& model, const std::vector<std::int32_t>& tokens,
                                         std::size_t ctx, std::size_t first_window, std::size_t windows, ThreadPool& pool) {
  if (ctx == 0 || windows == 0) throw std::invalid_argument("calibration needs at least one window of one token");
  if (first_window > tokens.size() / ctx || windows > tokens.size() / ctx - first_window)
    throw std::invalid_argument(std::to_string(tokens.size()) + " calibration tokens hold fewer than " +
                                std::to_string(first_window + windows) + " windows of " + std::to_string(ctx));
  std::map<const WeightView*, std::string> names;
  ActivationStats sums;
  for (const auto& [name, view] : model.matrices()) {
    names[view] = name;
    sums[name].assign(view->cols, 0.0);
  }
  const LlamaConfig& c = model.config();
  ExactKvStore store({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession session(model, store, pool);
  session.set_observer([&](const WeightView& w, const float* x, std::size_t n) {
    const auto it = names.find(&w);
    if (it == names.end()) return;
    std::vector<double>& s = sums[it->second];
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t i = 0; i < w.cols; ++i) s[i] += static_cast<double>(x[t * w.cols + i]) * x[t * w.cols + i];
  });
  std::vector<float> logits(c.vocab);
  for (std::size_t wdw = 0; wdw < windows; ++wdw) {
    store.clear();
    session.forward(tokens.data() + (first_window + wdw) * ctx, ctx, logits.data(), false);
  }
  // The output matrix sees only the last token of each window (logits of one token).
  for (auto& [name, s] : sums) {
    const double count = static_cast<double>(windows) * (name == "output.weight" ? 1.0 : static_cast<double>(ctx));
    for (double& v : s) v /= count;
  }
  return sums;
}

std::vector<float> activation_scales(const std::vector<double>& column_sq_norms, const std::vector<double>& mean_sq) {
  const std::size_t n = mean_sq.size();
  if (column_sq_norms.size() != n || n == 0) throw std::invalid_argument("activation_scales: size mismatch");
  double mean_a = 0.0, mean_w = 0.0;
  for (std::size_t c = 0; c < n; ++c) {
    mean_a += mean_sq[c] / static_cast<double>(n);
    mean_w += column_sq_norms[c] / static_cast<double>(n);
  }
  // Floors keep dead channels or zero columns from giving zero or infinite scales.
  const double floor_a = std::max(mean_a * 1e-4, 1e-30), floor_w = std::max(mean_w * 1e-4, 1e-30);
  std::vector<double> log_s(n);
  double mean_log = 0.0;
  for (std::size_t c = 0; c < n; ++c) {
    log_s[c] = 0.25 * std::log(std::max(mean_sq[c], floor_a)) - 0.25 * std::log(std::max(column_sq_norms[c], floor_w));
    mean_log += log_s[c] / static_cast<double>(n);
  }
  std::vector<float> s(n);
  for (std::size_t c = 0; c < n; ++c) s[c] = static_cast<float>(std::exp(log_s[c] - mean_log));
  return s;
}

}  // namespace veloxquant
