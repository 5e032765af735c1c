// GPTQ (Frantar et al. 2022) for matrices stored as TurboQuant-MSE records, in the rotated domain.
//
// A layer y = W·x whose inputs have second moment H = Σ x·xᵀ has output error
// tr((W − Ŵ) H (W − Ŵ)ᵀ). A row is stored as rotated records, w ≈ Tᵀ·ŵ̃ (T: the records'
// rotations, block-diagonal over the blocks of a row), so the error of one row is
// (w̃ − ŵ̃)ᵀ H̃ (w̃ − ŵ̃) with w̃ = T·w and H̃ = T·H·Tᵀ. Plain encoding rounds every rotated
// coordinate to its nearest centroid on its own; GPTQ rounds them in order and moves each rounding
// error onto the coordinates not yet rounded (weights from the upper Cholesky factor of H̃⁻¹), which
// is the least-squares correction for the rows' output error. Each group's grid is its norm while
// rounding (as plain encoding); for formats with norm correction the stored scales are then refit
// by least squares in the H̃ metric. The record format does not change. q4 (groups of 32, fp16
// scale, llama.cpp q4_0) runs the same loop in the original domain with plain q4's scales: a
// calibrated baseline for the tq formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "quant/rotated_records.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {

class GptqEncoder {
 public:
  // `h`: cols × cols second moment of the matrix's inputs (row-major, symmetric); q: the record
  // quantizer (cols a multiple of q.dim()). Damping adds `damp` · mean(diag H) to the diagonal.
  // Throws std::invalid_argument when q is neither a tq format with a rotated view nor q4, on a size
  // mismatch, or when H is not finite or H̃ + damping is not positive definite.
  GptqEncoder(const Quantizer& q, std::size_t cols, const std::vector<double>& h, double damp = 0.01);

  // Encodes one row (cols floats) into cols / q.dim() records, record b at recs + b · stride.
  // Depends only on the row, H and q (rows can be encoded on any thread, in any order).
  void encode_row(const float* row, std::uint8_t* recs, std::size_t stride) const;

 private:
  void refit_scales(const std::vector<double>& w, const std::vector<double>& c,
                    const std::vector<std::size_t>& group_of, std::vector<double>& scales) const;

  const Quantizer& q_;
  // GPTQ's loop: y[j] in units of step[j] (0: a zero group, left at 0); c[j] = round(j, y[j]) is
  // the grid value chosen after the errors of the coordinates before j were moved onto y.
  void sweep(std::vector<double>& y, const std::vector<double>& step,
             const std::function<double(std::size_t, double)>& round, std::vector<double>& c) const;
  void encode_row_q4(const float* row, std::uint8_t* recs, std::size_t stride) const;

  const RotatedRecords* records_;  // null for q4
  std::size_t cols_;
  std::vector<double> h_;  // H̃ + λI
  std::vector<double> u_;  // upper U with (H̃ + λI)⁻¹ = Uᵀ·U
};

// Upper Cholesky factor U of A⁻¹ (A⁻¹ = Uᵀ·U) for a symmetric positive definite A (n × n,
// row-major); throws std::invalid_argument when A is not positive definite.
std::vector<double> inverse_upper_cholesky(const std::vector<double>& a, std::size_t n);

}  // namespace veloxquant
