// `veloxquant inspect` for model files (GGUF, .vqm): tools/inspect_model.cpp.
#pragma once

#include <string>

namespace veloxquant::cli {

// True when the file starts with the GGUF or the .vqm magic.
bool is_model_file(const std::string& path);
// Loads the model (every check of the loaders) and prints its configuration and tensors;
// returns the exit code. Throws with the loader's message when a check fails.
int inspect_model(const std::string& path, bool json);

}  // namespace veloxquant::cli
