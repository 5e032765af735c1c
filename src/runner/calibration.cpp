#include "runner/calibration.h"

#include <stdexcept>

#include "runner/kv_store.h"
#include "runner/llama_forward.h"

namespace veloxquant {

InputMoments collect_input_moments(const LlamaModel& model, const std::vector<std::int32_t>& tokens, std::size_t ctx,
                                   std::size_t first_window, std::size_t windows, ThreadPool& pool) {
  if (ctx == 0 || windows == 0) throw std::invalid_argument("calibration needs at least one window of one token");
  const std::size_t available = tokens.size() / ctx;
  if (first_window > available || windows > available - first_window)
    throw std::invalid_argument(std::to_string(tokens.size()) + " calibration tokens hold " +
                                std::to_string(available) + " windows of " + std::to_string(ctx) + ", fewer than the " +
                                std::to_string(first_window + windows) + " asked (skip " +
                                std::to_string(first_window) + " + " + std::to_string(windows) + ")");
  std::map<const WeightView*, std::string> names;
  InputMoments sums;
  for (const auto& [name, view] : model.matrices()) {
    names[view] = name;
    sums[name].assign(view->cols * view->cols, 0.0);
  }
  // Matrices fed the same input one after the other (q/k/v, gate/up) reuse its Gram matrix.
  const float* last_x = nullptr;
  std::vector<float> xt, gram;
  auto observe = [&](const WeightView& w, const float* x, std::size_t n) {
    const auto it = names.find(&w);
    if (it == names.end()) return;
    const std::size_t d = w.cols;
    if (x != last_x || gram.size() != d * d) {
      xt.resize(d * n);  // transposed: one channel's values over the tokens are contiguous
      for (std::size_t t = 0; t < n; ++t)
        for (std::size_t i = 0; i < d; ++i) xt[i * n + t] = x[t * d + i];
      gram.resize(d * d);
      for (std::size_t i = 0; i < d; ++i) dot_many(xt.data() + i * n, xt.data(), n, n, d, gram.data() + i * d);
      last_x = x;
    }
    std::vector<double>& h = sums[it->second];
    for (std::size_t i = 0; i < d * d; ++i) h[i] += gram[i];
  };
  const LlamaConfig& c = model.config();
  ExactKvStore store(c.kv_shape(), pool);
  LlamaSession session(model, store, pool);
  session.set_observer(observe);
  std::vector<float> logits(ctx * c.vocab);
  for (std::size_t wdw = 0; wdw < windows; ++wdw) {
    store.clear();
    last_x = nullptr;  // the session's buffers are rewritten by every window
    session.forward(tokens.data() + (first_window + wdw) * ctx, ctx, logits.data(), true);
  }
  return sums;
}

}  // namespace veloxquant
