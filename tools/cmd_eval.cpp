// `veloxquant eval`: MSE and inner-product error of formats on random unit vectors, vs theory.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "cli.h"
#include "io/json.h"
#include "measure.h"
#include "veloxquant/format.h"

namespace veloxquant::cli {

namespace {

constexpr const char* kHelp =
    "usage: veloxquant eval [--method tq|tqp|qjl|polar|q8|q4|f16|bf16|f32 --bits 1,2,3,4 | --formats tq3,q4,...]\n"
    "                       [--dim 128] [--samples 20000] [--seed 1] [--json]\n"
    "Encodes random unit vectors, decodes them and estimates inner products with random unit\n"
    "queries on the codes. Prints bits/coord (measured from the record size), MSE E|u-u^|^2 with\n"
    "theory where it exists, inner-product bias, MSE and correlation, and encode time.\n";

Json optional_json(const std::optional<double>& v) { return v ? Json::number_or_null(*v) : Json(); }

}  // namespace

Json measurement_json(const FormatMeasurement& m) {
  Json o = Json::object();
  o.set("format", Json::string(m.format));
  o.set("dim", Json::unsigned_integer(m.dim));
  o.set("bits", Json::number_or_null(m.bits));
  o.set("bits_per_coord", Json::number_or_null(m.bits_per_coord));
  o.set("code_bytes", Json::unsigned_integer(m.code_bytes));
  o.set("mse", Json::number_or_null(m.mse));
  o.set("mse_theory", optional_json(m.mse_theory));
  o.set("ip_bias", Json::number_or_null(m.ip_bias));
  o.set("ip_mse", Json::number_or_null(m.ip_mse));
  o.set("ip_mse_theory", optional_json(m.ip_mse_theory));
  o.set("ip_corr", Json::number_or_null(m.ip_corr));
  o.set("encode_ns_per_vector", Json::number_or_null(m.encode_ns_per_vector));
  return o;
}

void print_measurement_table(const std::vector<FormatMeasurement>& rows) {
  std::printf("%-18s %5s %9s %6s %10s %10s %10s %10s %10s %8s %10s\n", "format", "dim", "bits/crd", "bytes", "mse",
              "mse_theory", "ip_bias", "ip_mse", "ip_theory", "ip_corr", "enc_ns/vec");
  for (const FormatMeasurement& m : rows) {
    auto opt = [](const std::optional<double>& v) {
      char buf[32];
      if (v)
        std::snprintf(buf, sizeof buf, "%10.5f", *v);
      else
        std::snprintf(buf, sizeof buf, "%10s", "-");
      return std::string(buf);
    };
    std::printf("%-18s %5zu %9.3f %6zu %10.5f %s %10.2e %10.2e %s %8.4f %10.1f\n", m.format.c_str(), m.dim,
                m.bits_per_coord, m.code_bytes, m.mse, opt(m.mse_theory).c_str(), m.ip_bias, m.ip_mse,
                opt(m.ip_mse_theory).c_str(), m.ip_corr, m.encode_ns_per_vector);
  }
}

int cmd_eval(int argc, char** argv) {
  const Args args(argc, argv, {"json", "help"}, {"method", "bits", "formats", "dim", "samples", "seed"});
  if (args.has("help")) {
    std::printf("%s", kHelp);
    return 0;
  }
  std::vector<std::string> formats;
  if (args.has("formats")) {
    formats = args.list("formats", "");
  } else {
    std::vector<int> bits;
    for (long long b : args.int_list("bits", "1,2,3,4")) bits.push_back(static_cast<int>(b));
    formats = format_names_for_method(args.str("method", "tq"), bits);
  }
  const long long dim = args.integer("dim", 128), samples = args.integer("samples", 20000);
  if (dim < 1 || dim > 65536) throw std::invalid_argument("--dim must be in 1..65536, got " + std::to_string(dim));
  if (samples < 1 || samples > 10000000)
    throw std::invalid_argument("--samples must be in 1..10000000, got " + std::to_string(samples));
  const auto seed = static_cast<std::uint64_t>(args.integer("seed", 1));
  std::vector<FormatMeasurement> rows;
  for (const std::string& f : formats) {
    parse_format(f);  // fail fast on a bad name before any work
  }
  for (const std::string& f : formats) {
    std::fprintf(stderr, "eval: %s d=%lld, %lld samples\n", f.c_str(), dim, samples);
    rows.push_back(measure_format(f, static_cast<std::size_t>(dim), static_cast<std::size_t>(samples), seed));
  }
  if (args.has("json")) {
    Json out = Json::object(), results = Json::array();
    out.set("command", Json::string("eval"));
    for (const FormatMeasurement& m : rows) results.push(measurement_json(m));
    out.set("results", std::move(results));
    std::printf("%s\n", out.dump(0).c_str());
  } else {
    print_measurement_table(rows);
  }
  return 0;
}

}  // namespace veloxquant::cli
