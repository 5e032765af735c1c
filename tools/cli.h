// The `veloxquant` command-line tool: one function per subcommand, each in tools/cmd_<name>.cpp.
#pragma once

namespace veloxquant::cli {

// Each returns the process exit code; argv[0] is the subcommand name.
int cmd_demo(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_precompute(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_quantize_model(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_serve(int argc, char** argv);

}  // namespace veloxquant::cli

#include <string>
#include <vector>

#include "io/json.h"

namespace veloxquant::cli {
struct FormatMeasurement;
Json measurement_json(const FormatMeasurement& m);
void print_measurement_table(const std::vector<FormatMeasurement>& rows);
}  // namespace veloxquant::cli
