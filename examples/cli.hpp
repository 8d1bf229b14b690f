// examples/cli.hpp — the examples' tiny command-line parser: --name value, --name=value, --flag.
// Unknown or malformed options are errors that name the option: a number that does not parse, an
// option that needs a value given none (`--out` last, or followed by another option), a flag
// given a value (`--augment false`), an option given twice. `--name=` gives an empty text. Lists are comma-separated.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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
      const std::string name = a.substr(0, eq);
      require(!values_.count(name), "option --", name, " is given twice");
      if (eq != std::string::npos)
        values_[name] = a.substr(eq + 1);
      else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        values_[name] = argv[++i];
      else
        values_[name] = std::nullopt;
    }
  }
  template <class V>
  V get(const std::string& name, V fallback) {
    used_.insert(name);
    const auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    require(it->second.has_value(), "option --", name, ": expected a value after it");
    const std::string& text = *it->second;
    if constexpr (std::is_same_v<V, std::string>) {
      return text;
    } else {
      std::istringstream s(text);
      V v{};
      s >> v;
      require(!s.fail() && s.eof(), "option --", name, ": expected a number, got '", text, "'");
      return v;
    }
  }
  // A comma-separated list of numbers (`--lr 1e-3,1e-2`), sorted, each value once; `fallback` is
  // the text used when the option is not given. Every item must parse as a V.
  template <class V>
  std::vector<V> get_list(const std::string& name, const std::string& fallback) {
    const std::string text = get(name, fallback);
    std::vector<V> out;
    for (std::size_t at = 0; at <= text.size();) {
      const std::size_t comma = std::min(text.find(',', at), text.size());
      std::istringstream s(text.substr(at, comma - at));
      V v{};
      s >> v;
      require(!s.fail() && s.eof(), "option --", name, ": expected numbers separated by commas, got '", text, "'");
      out.push_back(v);
      at = comma + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  // Whether the flag --name was given; a flag takes no value.
  bool flag(const std::string& name) {
    used_.insert(name);
    const auto it = values_.find(name);
    require(it == values_.end() || !it->second.has_value(), "option --", name, " takes no value, got '",
            it == values_.end() ? std::string() : it->second.value_or(""), "' (leave the flag out for false)");
    return it != values_.end();
  }
  // Whether option --name was given at all (with or without a value).
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  // Throws when an option was given that the program does not know.
  void done() const {
    for (const auto& [k, v] : values_) require(used_.count(k) > 0, "unknown option --", k);
  }

 private:
  std::map<std::string, std::optional<std::string>> values_;  // nullopt: given without a value
  std::set<std::string> used_;
};

}  // namespace basin::examples
