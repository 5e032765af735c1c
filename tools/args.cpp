#include "args.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace veloxquant::cli {

Args::Args(int argc, char** argv, const std::set<std::string>& flags, const std::set<std::string>& options,
           const std::map<std::string, std::string>& aliases) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() < 2 || a[0] != '-') {
      positionals_.push_back(a);
      continue;
    }
    if (auto it = aliases.find(a); it != aliases.end()) a = "--" + it->second;
    if (a.rfind("--", 0) != 0) throw std::invalid_argument("unknown option '" + a + "'");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    if (flags.count(name)) {
      if (has_value) throw std::invalid_argument("option --" + name + " takes no value");
      values_[name] = std::string(1, '1');  // not = "1": GCC 12 warns falsely (-Wrestrict, PR105329)
    } else if (options.count(name)) {
      if (!has_value) {
        if (i + 1 >= argc) throw std::invalid_argument("option --" + name + " needs a value");
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      throw std::invalid_argument("unknown option '--" + name + "'");
    }
  }
}

bool Args::has(const std::string& name) const { return values_.count(name) != 0; }

std::string Args::str(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

static long long parse_integer(const std::string& name, const std::string& s) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0)
    throw std::invalid_argument("option --" + name + ": '" + s + "' is not an integer");
  return v;
}

long long Args::integer(const std::string& name, long long fallback) const {
  return has(name) ? parse_integer(name, str(name, "")) : fallback;
}

double Args::number(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  const std::string s = str(name, "");
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0') throw std::invalid_argument("option --" + name + ": '" + s + "' is not a number");
  return v;
}

std::vector<std::string> Args::list(const std::string& name, const std::string& fallback) const {
  const std::string s = str(name, fallback);
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = s.find(',', start);
    const std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<long long> Args::int_list(const std::string& name, const std::string& fallback) const {
  std::vector<long long> out;
  for (const std::string& item : list(name, fallback)) out.push_back(parse_integer(name, item));
  return out;
}

std::size_t thread_count(const Args& args) {
  const long long threads = args.integer("threads", std::max(1u, std::thread::hardware_concurrency()));
  if (threads < 1 || threads > 1024)
    throw std::invalid_argument("--threads " + std::to_string(threads) + " is out of range");
  return static_cast<std::size_t>(threads);
}

}  // namespace veloxquant::cli
