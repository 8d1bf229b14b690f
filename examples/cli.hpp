// examples/cli.hpp — the examples' tiny command-line parser: --name value, --name=value, --flag.
// Unknown or malformed options are errors that name the option.
#pragma once

#include <map>
#include <set>
#include <sstream>
#include <string>

#include "basin/core/error.hpp"

namespace basin::examples {

class cli {
 public:
  cli(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      require(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (options look like --name value)");
      a = a.substr(2);
      const auto eq = a.find('=');
      if (eq != std::string::npos)
        values_[a.substr(0, eq)] = a.substr(eq + 1);
      else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        values_[a] = argv[++i];
      else
        values_[a] = "";
    }
  }
  template <class V>
  V get(const std::string& name, V fallback) {
    used_.insert(name);
    const auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    if constexpr (std::is_same_v<V, std::string>) {
      return it->second;
    } else {
      std::istringstream s(it->second);
      V v{};
      s >> v;
      require(!s.fail() && s.eof(), "option --", name, ": expected a number, got '", it->second, "'");
      return v;
    }
  }
  bool flag(const std::string& name) {
    used_.insert(name);
    return values_.count(name) > 0;
  }
  // Throws when an option was given that the program does not know.
  void done() const {
    for (const auto& [k, v] : values_) require(used_.count(k) > 0, "unknown option --", k);
  }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> used_;
};

}  // namespace basin::examples
