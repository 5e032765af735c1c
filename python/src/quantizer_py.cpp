// veloxquant.Quantizer: the batch API of one format (encode, decode, inner products on codes).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "quant/quantizers.h"
#include "veloxquant/format.h"
#include "veloxquant/quantizer.h"
#include "veloxquant/rotation.h"

namespace veloxquant::py_bind {

namespace {

// ValueError naming the first non-finite element of x[n][dim]: a NaN or Inf query would give NaN
// estimates for every record.
void check_finite_rows(const float* x, std::size_t n, std::size_t dim, const char* name) {
  for (std::size_t i = 0; i < n * dim; ++i)
    if (!std::isfinite(x[i]))
      throw py::value_error(std::string(name) + "[" + std::to_string(i / dim) + "][" + std::to_string(i % dim) +
                            "] = " + std::to_string(x[i]) + " is not finite");
}

std::unique_ptr<Quantizer> build_quantizer(const std::string& format, std::size_t dim, std::uint64_t seed) {
  py::gil_scoped_release release;  // large dims take a while to set up
  return make_quantizer(format, dim, seed);
}

class PyQuantizer {
 public:
  PyQuantizer(const std::string& format, std::size_t dim, std::uint64_t seed)
      : q_(build_quantizer(format, dim, seed)) {}

  const Quantizer& q() const { return *q_; }

  py::array encode(const py::handle& x_obj) const {
    const FloatArray x = as_float_array(x_obj, "x");
    const std::size_t n = rows_of(x, q_->dim(), "x");
    const auto cs = static_cast<py::ssize_t>(q_->code_size());
    ByteArray codes(x.ndim() == 1 ? std::vector<py::ssize_t>{cs}
                                  : std::vector<py::ssize_t>{static_cast<py::ssize_t>(n), cs});
    const float* src = x.data();
    std::uint8_t* dst = codes.mutable_data();
    {
      py::gil_scoped_release release;
      q_->encode(n, src, dst);
    }
    return codes;
  }

  py::array decode(const py::handle& codes_obj) const {
    const ByteArray codes = as_code_array(codes_obj, "codes");
    const std::size_t n = rows_of(codes, q_->code_size(), "codes");
    const auto d = static_cast<py::ssize_t>(q_->dim());
    FloatArray x(codes.ndim() == 1 ? std::vector<py::ssize_t>{d}
                                   : std::vector<py::ssize_t>{static_cast<py::ssize_t>(n), d});
    const std::uint8_t* src = codes.data();
    float* dst = x.mutable_data();
    {
      py::gil_scoped_release release;
      q_->decode(n, src, dst);
    }
    return x;
  }

  // The rotation Π of the rotating formats (tq without outliers, tqp, polar): y = Π·x.
  py::array rotation_matrix() const {
    const FormatSpec& spec = q_->spec();
    const bool rotates = ((spec.method == Method::kTurboMse || spec.method == Method::kTurboProd) &&
                          spec.outliers_for_dim(q_->dim()) == 0) ||
                         spec.method == Method::kPolar;
    if (!rotates) throw std::invalid_argument("format '" + q_->name() + "' has no single dim x dim rotation");
    const std::vector<float> mat = Rotation(q_->dim(), purpose_seed(q_->seed(), SeedPurpose::kRotation)).matrix();
    const auto d = static_cast<py::ssize_t>(q_->dim());
    FloatArray out({d, d});
    std::copy(mat.begin(), mat.end(), out.mutable_data());
    return out;
  }

  // out[i, t] = estimate of <q_i, x_t> computed on the codes (what attention uses).
  py::array inner_products(const py::handle& q_obj, const py::handle& codes_obj) const {
    const FloatArray qa = as_float_array(q_obj, "q");
    const std::size_t m = rows_of(qa, q_->dim(), "q");
    check_finite_rows(qa.data(), m, q_->dim(), "q");
    const ByteArray codes = as_code_array(codes_obj, "codes");
    const std::size_t n = rows_of(codes, q_->code_size(), "codes");
    std::vector<py::ssize_t> shape;
    if (qa.ndim() == 2) shape.push_back(static_cast<py::ssize_t>(m));
    if (codes.ndim() == 2) shape.push_back(static_cast<py::ssize_t>(n));
    FloatArray out(shape);
    const float* qp = qa.data();
    const std::uint8_t* cp = codes.data();
    float* op = out.mutable_data();
    {
      py::gil_scoped_release release;
      std::vector<float> prepared(m * q_->query_size());
      for (std::size_t i = 0; i < m; ++i) q_->prepare_query(qp + i * q_->dim(), prepared.data() + i * q_->query_size());
      if (n > 0) q_->score(m, prepared.data(), n, cp, op);
    }
    return out;
  }

 private:
  std::unique_ptr<Quantizer> q_;
};

}  // namespace

void bind_quantizer(py::module_& m) {
  py::class_<PyQuantizer>(m, "Quantizer",
                          "One storage format for vectors of a fixed dimension: Quantizer('tq3', dim=128, seed=0).")
      .def(py::init<const std::string&, std::size_t, std::uint64_t>(), py::arg("format"), py::arg("dim"),
           py::arg("seed") = 0)
      .def("encode", &PyQuantizer::encode, py::arg("x"),
           "Encodes float vectors [n, dim] (or [dim]) into uint8 records [n, code_size].")
      .def("decode", &PyQuantizer::decode, py::arg("codes"),
           "Decodes uint8 records [n, code_size] into float32 [n, dim].")
      .def("inner_products", &PyQuantizer::inner_products, py::arg("q"), py::arg("codes"),
           "Estimates <q_i, x_t> on the codes: q [m, dim], codes [n, code_size] -> float32 [m, n].")
      .def("rotation_matrix", &PyQuantizer::rotation_matrix,
           "The dim x dim rotation of tq (without outliers), tqp and polar formats; ValueError for others.")
      .def_property_readonly("code_size", [](const PyQuantizer& p) { return p.q().code_size(); })
      .def_property_readonly("bits_per_coord", [](const PyQuantizer& p) { return p.q().bits_per_coord(); })
      .def_property_readonly("dim", [](const PyQuantizer& p) { return p.q().dim(); })
      .def_property_readonly("seed", [](const PyQuantizer& p) { return p.q().seed(); })
      .def_property_readonly("name", [](const PyQuantizer& p) { return p.q().name(); })
      .def("__repr__", [](const PyQuantizer& p) {
        return "Quantizer('" + p.q().name() + "', dim=" + std::to_string(p.q().dim()) +
               ", seed=" + std::to_string(p.q().seed()) + ")";
      });
}

}  // namespace veloxquant::py_bind
