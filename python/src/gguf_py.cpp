// veloxquant.read_gguf: a GGUF file's metadata and tensors (dequantized to float32 numpy arrays),
// read and validated by the library's GGUF reader; enough to run a model in another framework.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <variant>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "io/gguf.h"
#include "runner/matmul.h"

namespace veloxquant::py_bind {

namespace {

py::object metadata_value(const GgufValue& v) {
  if (v.type == GgufType::kArray) {
    if (v.elem_type == GgufType::kString) return py::cast(v.strings);
    return py::cast(v.numbers);
  }
  return std::visit([](const auto& x) { return py::object(py::cast(x)); }, v.scalar);
}

// numpy shape of a tensor: GGUF lists ne[0] (the fastest-varying, the row length) first.
std::vector<py::ssize_t> numpy_shape(const GgufTensor& t) {
  std::vector<py::ssize_t> shape;
  for (auto it = t.dims.rbegin(); it != t.dims.rend(); ++it) shape.push_back(static_cast<py::ssize_t>(*it));
  return shape;
}

}  // namespace

void bind_gguf(py::module_& m) {
  m.def(
      "read_gguf",
      [](const std::string& path) {
        GgufFile file;
        {
          py::gil_scoped_release release;
          file = GgufFile::open(path);
        }
        py::dict metadata, tensors;
        for (const auto& [key, value] : file.metadata()) metadata[py::str(key)] = metadata_value(value);
        for (const GgufTensor& t : file.tensors()) {
          FloatArray a(numpy_shape(t));
          WeightView w;
          w.type = t.type;
          w.cols = t.dims.empty() ? 1 : static_cast<std::size_t>(t.dims[0]);
          w.rows = w.cols == 0 ? 0 : static_cast<std::size_t>(t.elements()) / w.cols;
          w.row_bytes = ggml_row_bytes(t.type, w.cols);
          w.data = t.data;
          float* out = a.mutable_data();
          {
            py::gil_scoped_release release;
            for (std::size_t r = 0; r < w.rows; ++r) dequantize_row(w, r, out + r * w.cols);
          }
          tensors[py::str(t.name)] = a;
        }
        return py::make_tuple(metadata, tensors);
      },
      py::arg("path"),
      "Reads a GGUF file: (metadata dict, {name: float32 array}), arrays in numpy order (GGUF's ne[0], the "
      "row length, is the last axis). RuntimeError for a bad file.");
}

}  // namespace veloxquant::py_bind
