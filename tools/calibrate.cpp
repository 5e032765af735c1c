#include "calibrate.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace veloxquant::cli {

std::optional<Calibration> calibration_args(const Args& args) {
  if (!args.has("calibrate")) {
    for (const char* name : kCalibrationOptions)
      if (args.has(name)) throw std::invalid_argument(std::string("--") + name + " needs --calibrate FILE");
    return std::nullopt;
  }
  if (!args.has("weights")) throw std::invalid_argument("--calibrate needs --weights F (a tq format or q4)");
  const long long skip = args.integer("calib-skip", 0), windows = args.integer("calib-windows", 16);
  const long long ctx = args.integer("calib-ctx", 512);
  if (skip < 0 || skip > (1LL << 30))
    throw std::invalid_argument("--calib-skip " + std::to_string(skip) + " is out of range");
  if (windows < 1 || windows > (1LL << 20))
    throw std::invalid_argument("--calib-windows " + std::to_string(windows) + " is out of range (1 .. 2^20)");
  if (ctx < 1 || ctx > (1LL << 20))
    throw std::invalid_argument("--calib-ctx " + std::to_string(ctx) + " is out of range (1 .. 2^20)");
  return Calibration{args.str("calibrate", ""), static_cast<std::size_t>(skip), static_cast<std::size_t>(windows),
                     static_cast<std::size_t>(ctx)};
}

std::vector<std::int32_t> read_u16_tokens(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot open token file '" + path + "'");
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.size() % 2 != 0) throw std::invalid_argument("token file '" + path + "' has an odd number of bytes");
  std::vector<std::int32_t> ids(bytes.size() / 2);
  for (std::size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<unsigned char>(bytes[2 * i]) | static_cast<unsigned char>(bytes[2 * i + 1]) << 8;
  return ids;
}

InputMoments calibrate(const LlamaModel& model, const Calibration& calibration, ThreadPool& pool) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::int32_t> tokens = read_u16_tokens(calibration.file);
  InputMoments moments;
  try {
    moments = collect_input_moments(model, tokens, calibration.ctx, calibration.skip, calibration.windows, pool);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("--calibrate '" + calibration.file + "': " + e.what());
  }
  std::fprintf(stderr, "calibration: tokens %zu .. %zu of %s (%zu windows of %zu) in %.1f s\n",
               calibration.first_token(), calibration.end_token(), calibration.file.c_str(), calibration.windows,
               calibration.ctx, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return moments;
}

}  // namespace veloxquant::cli
