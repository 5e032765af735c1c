#include "reference/reference_tool.h"

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace veloxquant::reference {

namespace {

const std::string kDir = std::string(VELOXQUANT_SOURCE_DIR) + "/tests/reference";

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// stdout of a shell command; `status` its exit status.
std::string capture(const std::string& command, int& status) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::string out;
  char buffer[1 << 16];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  status = pclose(pipe);
  return out;
}

}  // namespace

std::optional<std::string> reference_unavailable() {
  int status = 0;
  if (capture("command -v node 2>/dev/null", status).empty() || status != 0)
    return std::string("the llama.cpp reference needs node, which is not on PATH");
  if (!std::filesystem::exists(kDir + "/node_modules/node-llama-cpp/package.json"))
    return "the llama.cpp reference (node-llama-cpp) is not installed in " + kDir + "/node_modules";
  return std::nullopt;
}

bool reference_required() {
  const char* v = std::getenv("VELOXQUANT_REQUIRE_REFERENCE");
  return v != nullptr && std::string(v) == "1";
}

Json run_reference(const std::vector<std::string>& args) {
  std::string name = "llama_reference.";
  name += std::to_string(getpid());
  name += ".err";
  const std::string errors = (std::filesystem::temp_directory_path() / name).string();
  std::string command = "node ";
  command += quoted(kDir + "/llama_reference.mjs");
  for (const std::string& a : args) {
    command += ' ';
    command += quoted(a);
  }
  command += " 2>";
  command += quoted(errors);
  int status = 0;
  const std::string out = capture(command, status);
  std::ifstream err_in(errors);
  const std::string err((std::istreambuf_iterator<char>(err_in)), {});
  std::filesystem::remove(errors);
  if (status != 0) throw std::runtime_error("llama_reference.mjs failed (" + command + "):\n" + err);
  return Json::parse(out);
}

}  // namespace veloxquant::reference
