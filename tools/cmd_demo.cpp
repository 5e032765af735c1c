// `veloxquant demo`: the quick start on built-in defaults — every method on 1 000 random 128-d
// vectors: bits per coordinate, bytes, MSE vs theory, inner-product correlation, encode speed.
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "cli.h"
#include "measure.h"

namespace veloxquant::cli {

int cmd_demo(int argc, char** argv) {
  const Args args(argc, argv, {"help"}, {"dim", "samples", "seed"});
  if (args.has("help")) {
    std::printf("usage: veloxquant demo [--dim 128] [--samples 1000] [--seed 42]\n");
    return 0;
  }
  const auto dim = static_cast<std::size_t>(args.integer("dim", 128));
  const auto samples = static_cast<std::size_t>(args.integer("samples", 1000));
  const auto seed = static_cast<std::uint64_t>(args.integer("seed", 42));
  std::printf("veloxquant demo: %zu random unit vectors of dimension %zu, every method\n\n", samples, dim);
  std::vector<FormatMeasurement> rows;
  for (const char* f : {"f16", "q8", "q4", "tq1", "tq2", "tq2.5", "tq3", "tq3.5", "tq4", "tqp2", "tqp3", "tqp4", "qjl",
                        "polar"})
    rows.push_back(measure_format(f, dim, samples, seed));
  print_measurement_table(rows);
  std::printf("\nmse: mean |u - decode(encode(u))|^2 for unit u; mse_theory: d*C(f_d,b), the Lloyd-Max MSE of the\n"
              "exact coordinate density (tq stores the least-squares scale, so it lands at or below theory).\n"
              "ip_*: error of <y,u> estimated on the codes for random unit queries y.\n");
  return 0;
}

}  // namespace veloxquant::cli
