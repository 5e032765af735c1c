// GPTQ calibration options shared by run, perplexity and quantize-model:
// --calibrate FILE --calib-skip N --calib-windows M --calib-ctx C (with --weights).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "runner/calibration.h"
#include "runner/llama_model.h"
#include "runner/thread_pool.h"

namespace veloxquant::cli {

inline constexpr const char* kCalibrationHelp =
    R"(  --calibrate FILE     with --weights (tq formats, q4): choose the codes by GPTQ from the input
                       statistics of every matrix over windows of these tokens (uint16 ids
                       like test.u16), run through the model as loaded; same record format
  --calib-skip N       first calibration window (default 0); --calib-windows M windows
                       (default 16) of --calib-ctx C tokens (default 512)
)";
inline constexpr const char* kCalibrationOptions[] = {"calibrate", "calib-skip", "calib-windows", "calib-ctx"};

struct Calibration {
  std::string file;
  std::size_t skip = 0, windows = 16, ctx = 512;
  std::size_t first_token() const { return skip * ctx; }
  std::size_t end_token() const { return (skip + windows) * ctx; }
};

// The calibration options given, or nothing without --calibrate; throws std::invalid_argument on
// a bad value, on calibration options without --calibrate, or --calibrate without --weights.
std::optional<Calibration> calibration_args(const Args& args);

// Token ids of a little-endian uint16 file; throws std::invalid_argument naming the file.
std::vector<std::int32_t> read_u16_tokens(const std::string& path);

// The input moments of `model` over the calibration windows (progress on stderr).
InputMoments calibrate(const LlamaModel& model, const Calibration& calibration, ThreadPool& pool);

}  // namespace veloxquant::cli
