// Exception translation beyond pybind11's defaults (std::invalid_argument → ValueError is built in).
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "io/file_error.h"

namespace veloxquant::py_bind {

void register_errors(pybind11::module_&) {
  // pybind11 takes a void(*)(std::exception_ptr): the pointer must be taken by value.
  pybind11::register_exception_translator([](std::exception_ptr p) {  // NOLINT(performance-unnecessary-value-param)
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileFormatError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());  // a bad file is a bad value
    } catch (const FileIoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });
}

}  // namespace veloxquant::py_bind
