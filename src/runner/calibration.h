// Activation statistics for activation-aware weight quantization: the mean square of every input
// channel of every matrix that quantize_weights stores, measured by running the model (exact f32
// attention) over windows of calibration tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runner/llama_model.h"
#include "runner/thread_pool.h"

namespace veloxquant {

// Matrix name → mean of x_c² over the calibration tokens, c < cols.
using ActivationStats = std::map<std::string, std::vector<double>>;

// Runs windows [first_window, first_window + windows) of `ctx` tokens each (a fresh cache per
// window). Throws std::invalid_argument when the tokens hold fewer windows or an id is out of range.
ActivationStats collect_activation_stats(const LlamaModel& model, const std::vector<std::int32_t>& tokens,
                                         std::size_t ctx, std::size_t first_window, std::size_t windows, ThreadPool& pool);

// Per-channel scales s for a matrix W (rows × cols, decoded rows in `w`) whose input channels
// have mean squares `mean_sq`: s_c ∝ mean_sq_c^¼ / ‖W[:, c]‖^½, geometric mean 1. With the error
// of the stored W·diag(s) spread evenly over its entries (rotated records), this minimizes the
// expected output error E‖(W − Ŵ)x‖² (Cauchy–Schwarz over the channels).
std::vector<float> activation_scales(const std::vector<double>& column_sq_norms, const std::vector<double>& mean_sq);

}  // namespace veloxquant
