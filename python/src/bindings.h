// One function per binding file; module.cpp calls them all.
#pragma once

#include <pybind11/pybind11.h>

namespace veloxquant::py_bind {

void bind_quantizer(pybind11::module_& m);
void bind_math(pybind11::module_& m);
void bind_cache(pybind11::module_& m);
void bind_gguf(pybind11::module_& m);
void bind_runner(pybind11::module_& m);
void register_errors(pybind11::module_& m);

}  // namespace veloxquant::py_bind
