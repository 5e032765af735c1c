// TurboQuant-MSE records seen in their rotated domain, for encoders that choose the codes
// themselves (GPTQ weight quantization, runner/gptq.h) while the record format stays the same.
//
// The work domain of such a quantizer (prepare_query) is a list of groups, one per TurboMseCore:
// one for tqB, two (outlier and inlier channels) for an outlier split. Each group has its own
// rotation, codebooks and fp16 scale; its coordinates decode to scale · centroid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "quant/turboquant_core.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {

class RotatedRecords {
 public:
  struct Group {
    std::size_t first = 0;   // work-domain coordinates [first, first + core->dim())
    std::size_t offset = 0;  // record bytes of this group's core from here
    const TurboMseCore* core = nullptr;
  };
  virtual ~RotatedRecords() = default;
  virtual std::span<const Group> groups() const = 0;
  // y[dim] = the work-domain coordinates of x, each group normalized to a unit vector exactly as
  // encode computes it; norms[g] = ‖x_g‖ of group g.
  virtual void normalize_rotate(const float* x, float* y, double* norms) const = 0;
};

// q's rotated view, or null for formats without one (baselines, QJL, tqp, polar).
const RotatedRecords* rotated_records(const Quantizer& q);

}  // namespace veloxquant
