// Exception types of file loading, so API boundaries can tell a bad file from a failed read.
#pragma once

#include <stdexcept>
#include <string>

namespace veloxquant {

// The file could not be opened, read, written or renamed.
struct FileIoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The file's contents are invalid: truncated, corrupted, another format version or configuration.
struct FileFormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace veloxquant
