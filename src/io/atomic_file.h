// Writing a file so that a crash or a full disk never leaves a half-written file under its name.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace veloxquant {

using ByteSink = std::function<void(const void* bytes, std::size_t n)>;

// Calls produce(sink) to write the file's bytes into a temporary file beside `path`, fsyncs it,
// renames it over `path` and fsyncs the directory. On any failure the temporary is removed, the
// old file (if any) is untouched, and FileIoError says "<what>: <step> '<file>': <reason>".
void write_file_atomically(const std::string& path, const std::string& what,
                           const std::function<void(const ByteSink&)>& produce);

}  // namespace veloxquant
