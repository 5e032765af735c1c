// Calibration for GPTQ weight quantization (runner/gptq.h): the second moment H = Σ x·xᵀ of the
// input of every matrix that quantize_weights stores, measured by running the model as loaded
// (exact f32 attention) over windows of calibration tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runner/llama_model.h"
#include "runner/thread_pool.h"

namespace veloxquant {

// Matrix name → H (cols × cols, row-major) summed over every calibration token.
using InputMoments = std::map<std::string, std::vector<double>>;

// Runs windows [first_window, first_window + windows), window w = tokens[w·ctx, (w + 1)·ctx),
// each with a fresh cache and all logits (so the output matrix sees every token too). Throws
// std::invalid_argument when the tokens hold fewer windows or an id is out of range.
InputMoments collect_input_moments(const LlamaModel& model, const std::vector<std::int32_t>& tokens, std::size_t ctx,
                                   std::size_t first_window, std::size_t windows, ThreadPool& pool);

}  // namespace veloxquant
