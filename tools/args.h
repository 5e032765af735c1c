// Minimal option parsing for the CLI: --name value, --name=value, --flag, and positionals.
// Unknown or malformed options throw std::invalid_argument with a one-line message.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace veloxquant::cli {

class Args {
 public:
  // `flags` take no value; `options` take one. Short aliases are given as "-m=model".
  Args(int argc, char** argv, const std::set<std::string>& flags, const std::set<std::string>& options,
       const std::map<std::string, std::string>& aliases = {});

  bool has(const std::string& name) const;
  std::string str(const std::string& name, const std::string& fallback) const;
  long long integer(const std::string& name, long long fallback) const;
  double number(const std::string& name, double fallback) const;
  std::vector<std::string> list(const std::string& name, const std::string& fallback) const;  // comma-separated
  std::vector<long long> int_list(const std::string& name, const std::string& fallback) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

// --threads N of the runner commands: default all cores; throws unless 1 ≤ N ≤ 1024.
std::size_t thread_count(const Args& args);

}  // namespace veloxquant::cli
