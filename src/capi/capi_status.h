// C API plumbing: the thread-local last-error message and exception → status translation.
#pragma once

#include <exception>
#include <string>

#include "veloxquant/veloxquant.h"

namespace veloxquant::capi {

std::string& last_error();  // of the calling thread
vq_status fail(vq_status status, const char* message);
// Maps the exception in flight to a status and records its message.
vq_status from_current_exception() noexcept;

// Runs f (which may throw) and converts any exception; f returns nothing.
template <typename F>
vq_status guarded(F&& f) noexcept {
  try {
    f();
    return VQ_OK;
  } catch (...) {
    return from_current_exception();
  }
}

}  // namespace veloxquant::capi
