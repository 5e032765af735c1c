#include "capi/capi_status.h"

#include <filesystem>
#include <ios>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>

#include "io/artifacts.h"
#include "io/file_error.h"

namespace veloxquant::capi {

std::string& last_error() {
  thread_local std::string message;
  return message;
}

vq_status fail(vq_status status, const char* message) {
  try {
    last_error() = message ? message : "";
  } catch (...) {
    // Out of memory while storing the message: keep the status, lose the text.
  }
  return status;
}

vq_status from_current_exception() noexcept {
  try {
    throw;
  } catch (const std::invalid_argument& e) {
    return fail(VQ_INVALID_ARGUMENT, e.what());
  } catch (const std::out_of_range& e) {
    return fail(VQ_INVALID_ARGUMENT, e.what());
  } catch (const FileFormatError& e) {
    return fail(VQ_CORRUPT_FILE, e.what());
  } catch (const FileIoError& e) {
    return fail(VQ_IO_ERROR, e.what());
  } catch (const std::filesystem::filesystem_error& e) {
    return fail(VQ_IO_ERROR, e.what());
  } catch (const std::ios_base::failure& e) {
    return fail(VQ_IO_ERROR, e.what());
  } catch (const std::bad_alloc&) {
    return fail(VQ_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(VQ_INTERNAL_ERROR, e.what());
  } catch (...) {
    return fail(VQ_INTERNAL_ERROR, "unknown exception");
  }
}

}  // namespace veloxquant::capi

extern "C" {

const char* vq_last_error(void) { return veloxquant::capi::last_error().c_str(); }

const char* vq_status_name(vq_status status) {
  switch (status) {
    case VQ_OK:
      return "VQ_OK";
    case VQ_INVALID_ARGUMENT:
      return "VQ_INVALID_ARGUMENT";
    case VQ_IO_ERROR:
      return "VQ_IO_ERROR";
    case VQ_CORRUPT_FILE:
      return "VQ_CORRUPT_FILE";
    case VQ_OUT_OF_MEMORY:
      return "VQ_OUT_OF_MEMORY";
    case VQ_INTERNAL_ERROR:
      return "VQ_INTERNAL_ERROR";
  }
  return "VQ_UNKNOWN_STATUS";
}

const char* vq_version(void) { return veloxquant::library_version(); }

}  // extern "C"
