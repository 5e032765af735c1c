#include "arrays.h"

#include <stdexcept>

namespace veloxquant::py_bind {

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

FloatArray as_float_array(const py::handle& obj, const char* name) {
  py::array a = py::array::ensure(obj);
  if (!a) throw py::type_error(std::string(name) + " must be a numpy array or a nested sequence of numbers");
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u')
    throw py::type_error(std::string(name) + " must hold real numbers, got dtype " + std::string(py::str(a.dtype())));
  FloatArray out = FloatArray::ensure(a);  // converts the dtype and makes it C-contiguous when needed
  if (!out)
    throw py::type_error(std::string(name) + ": cannot convert dtype " + std::string(py::str(a.dtype())) +
                         " to float32");
  return out;
}

ByteArray as_code_array(const py::handle& obj, const char* name) {
  py::array a = py::array::ensure(obj);
  if (!a) throw py::type_error(std::string(name) + " must be a numpy uint8 array");
  if (a.dtype().kind() != 'u' || a.dtype().itemsize() != 1)
    throw py::type_error(std::string(name) + " must have dtype uint8, got " + std::string(py::str(a.dtype())));
  ByteArray out = ByteArray::ensure(a);  // same dtype: only makes it C-contiguous
  if (!out) throw py::type_error(std::string(name) + ": cannot make a contiguous uint8 array");
  return out;
}

std::size_t rows_of(const py::array& a, std::size_t width, const char* name) {
  const bool ok = (a.ndim() == 1 && static_cast<std::size_t>(a.shape(0)) == width) ||
                  (a.ndim() == 2 && static_cast<std::size_t>(a.shape(1)) == width);
  if (!ok)
    throw py::value_error(std::string(name) + " must have shape (n, " + std::to_string(width) + ") or (" +
                          std::to_string(width) + ",), got " + shape_str(a));
  return a.ndim() == 1 ? 1 : static_cast<std::size_t>(a.shape(0));
}

std::size_t rows_of_3d(const py::array& a, std::size_t d1, std::size_t d2, const char* name) {
  const auto dim = [&](int i) { return static_cast<std::size_t>(a.shape(i)); };
  const bool ok = (a.ndim() == 2 && dim(0) == d1 && dim(1) == d2) || (a.ndim() == 3 && dim(1) == d1 && dim(2) == d2);
  if (!ok)
    throw py::value_error(std::string(name) + " must have shape (tokens, " + std::to_string(d1) + ", " +
                          std::to_string(d2) + ") or (" + std::to_string(d1) + ", " + std::to_string(d2) + "), got " +
                          shape_str(a));
  return a.ndim() == 2 ? 1 : dim(0);
}

FloatArray new_float_array(const std::vector<py::ssize_t>& shape) { return FloatArray(shape); }

}  // namespace veloxquant::py_bind
