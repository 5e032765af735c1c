// The extension module veloxquant._core; python/veloxquant/__init__.py re-exports it.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "io/artifacts.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "veloxquant: KV-cache quantization (TurboQuant, QJL, PolarQuant) with attention on the codes";
  m.attr("__version__") = veloxquant::library_version();
  veloxquant::py_bind::register_errors(m);
  veloxquant::py_bind::bind_math(m);
  veloxquant::py_bind::bind_cache(m);
  veloxquant::py_bind::bind_quantizer(m);
  veloxquant::py_bind::bind_gguf(m);
  veloxquant::py_bind::bind_runner(m);
}
