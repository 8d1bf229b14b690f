// examples/cli.hpp — the examples' tiny command-line parser: --name value, --name=value, --flag.
// Unknown or malformed options are errors that name the option: a number that does not parse, an
// option that needs a value given none (`--out` last, or followed by another option), a flag
// given a value (`--augment false`), an option given twice. `--name=` gives an empty text. Lists are comma-separated.
// Hyphens and underscores in names are the same (`--train_subset`, `--loss-name`): the numbered
// examples spell theirs with hyphens, plot_surface and --loss_name follow the reference tool. An
// unknown option is refused with the closest name the program reads (a few edits away, one that
// starts with it, or one whose PyTorch name it is: --weight-decay for --wd); `--help` makes done()
// print what the program does and every option it reads, with what the option sets (`about`) and
// its default, and return false (the program then stops), other options given beside it unread.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "basin/core/error.hpp"

namespace basin::examples {

// What an option sets, one sentence for --help: args.get("epochs", 6, about{"epochs to train"}).
struct about {
  const char* text;
};

class cli {
 public:
  // `purpose`: what the program does, a sentence or two that --help prints under its usage line.
  cli(int argc, char** argv, const char* purpose = nullptr) : purpose_(purpose ? purpose : "") {
    if (argc > 0) {
      program_ = argv[0];
      program_ = program_.substr(program_.find_last_of('/') + 1);
    }
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      require(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (options look like --name value)");
      a = a.substr(2);
      const auto eq = a.find('=');
      const std::string name = a.substr(0, eq), key = canonical(name);
      require(!values_.count(key), "option --", name, " is given twice");
      help_ = help_ || key == "help";
      spelled_[key] = name;
      if (eq != std::string::npos)
        values_[key] = a.substr(eq + 1);
      else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        values_[key] = argv[++i];
      else
        values_[key] = std::nullopt;
    }
  }
  // The value of --name, or fallback when it is not given; `shown` describes the default in
  // usage() where the value alone would not (a default made from other options, a 0 meaning "all").
  template <class V>
  V get(const std::string& name, V fallback, about a) {
    return get(name, std::move(fallback), nullptr, a);
  }
  template <class V>
  V get(const std::string& name, V fallback, const char* shown = nullptr, about a = {nullptr}) {
    if (a.text && *a.text) about_.emplace(canonical(name), a.text);
    std::ostringstream d;
    d << "default ";
    if (shown)
      d << shown;
    else if constexpr (std::is_same_v<V, std::string>)
      d << (fallback.empty() ? "(none)" : fallback);
    else
      d << fallback;
    known(name, d.str());
    const auto it = values_.find(canonical(name));
    if (it == values_.end() || help_) return fallback;
    const std::string& as_given = typed(name);
    require(it->second.has_value(), "option --", as_given, ": expected a value after it");
    const std::string& text = *it->second;
    if constexpr (std::is_same_v<V, std::string>) {
      return text;
    } else {
      return parse<V>(text, as_given, "expected a number");
    }
  }
  // text as a V; refused, naming the option, when it is not one, out of V's range, or (floating
  // point) so small that it would read as 0.
  template <class V>
  static V parse(const std::string& text, const std::string& as_given, const std::string& expected) {
    if constexpr (std::is_unsigned_v<V>)  // (a stream reads "-1" as 2^64 - 1: a seed of -1 wrapped)
      require(text.find('-') == std::string::npos, "option --", as_given, ": expected 0 or more, got '", text, "'");
    std::istringstream s(text);
    V v{};
    s >> v;
    errno = 0;
    char* end = nullptr;
    const long double wide = std::strtold(text.c_str(), &end);
    // (strtold also reads C's hexadecimal "0x10", which the stream reads as 0 followed by junk:
    // not a number here, so "0x10" is "expected a number", not "out of range")
    const bool number = !text.empty() && end == text.c_str() + text.size() && std::isfinite(wide) &&
                        text.find_first_of("xX") == std::string::npos;
    if (s.fail() || !s.eof()) {
      if constexpr (std::is_integral_v<V>)  // 2.5 or 1e3 for a count: a number, but not a whole one as written
        require(!(number && wide >= (long double)std::numeric_limits<V>::lowest() &&
                  wide <= (long double)std::numeric_limits<V>::max()),
                "option --", as_given, ": expected a whole number written with digits only, got '", text, "'");
      require(!number, "option --", as_given, ": '", text, "' is out of range (expected ",
              std::numeric_limits<V>::lowest(), " to ", std::numeric_limits<V>::max(), ")");
      fail("option --", as_given, ": ", expected, ", got '", text, "'");
    }
    if constexpr (std::is_floating_point_v<V>)
      require(!(v == 0 && number && wide != 0), "option --", as_given, ": '", text,
              "' is too small for this option's number type (it would read as 0)");
    return v;
  }
  // A comma-separated list of numbers (`--lr 1e-3,1e-2`), sorted, each value once; `fallback` is
  // the text used when the option is not given. Every item must parse as a V.
  template <class V>
  std::vector<V> get_list(const std::string& name, const std::string& fallback, about a) {
    return get_list<V>(name, fallback, nullptr, a);
  }
  template <class V>
  std::vector<V> get_list(const std::string& name, const std::string& fallback, const char* shown = nullptr,
                          about a = {nullptr}) {
    const std::string text = get(name, fallback, shown, a);
    const std::string& as_given = typed(name);
    std::vector<V> out;
    for (std::size_t at = 0; at <= text.size();) {
      const std::size_t comma = std::min(text.find(',', at), text.size());
      out.push_back(
          parse<V>(text.substr(at, comma - at), as_given, "expected numbers separated by commas in '" + text + "'"));
      at = comma + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  // Whether the flag --name was given; a flag takes no value.
  bool flag(const std::string& name, about a = {nullptr}) {
    if (a.text && *a.text) about_.emplace(canonical(name), a.text);
    known(name, "a flag: off unless given");
    const auto it = values_.find(canonical(name));
    if (it == values_.end() || help_) return false;
    require(!it->second.has_value(), "option --", typed(name), " takes no value, got '", *it->second,
            "' (leave the flag out for false)");
    return true;
  }
  // Whether --help was given: checks made before done() should let everything pass.
  bool help() const { return help_; }
  // Whether option --name was given at all (with or without a value).
  bool has(const std::string& name) const { return values_.count(canonical(name)) > 0; }

  // The usage line, the program's purpose, and every option read so far with what it sets and
  // its default, wrapped at 100 columns (a word longer than that alone on its line).
  std::string usage() const {
    std::string u = "usage: " + program_ + " [options]\n";
    if (!purpose_.empty()) u += wrapped(words(purpose_), 0);
    std::size_t width = 0;
    for (const auto& [name, d] : options_) width = std::max(width, name.size());
    for (const auto& [name, d] : options_) {
      const auto it = about_.find(canonical(name));
      const std::string head = "  --" + name + std::string(width - name.size() + 2, ' ');
      // what it sets, then its default as one word (after the text where it fits, else below it);
      // a default longer than a line starts a line of its own and breaks at its spaces
      std::vector<std::string> w = words(it == about_.end() ? "" : it->second);
      const std::string shown = "(" + d + ")";
      if (head.size() + shown.size() <= 100) {
        w.push_back(shown);
      } else {
        w.emplace_back();
        for (auto& s : words(shown)) w.push_back(std::move(s));
      }
      u += head + wrapped(w, head.size()).substr(head.size());
    }
    return u + "Hyphens and underscores in option names are the same.\n";
  }
  // Call after reading every option. With --help: prints usage() to `to` (nowhere when null:
  // under mpirun only rank 0 prints) and returns false, and the program should stop (every option
  // read gave its default). Otherwise throws when an option was given that the program does not
  // read, naming the closest option it does read, and returns true.
  [[nodiscard]] bool done(std::FILE* to = stdout) const {
    if (help_) {
      if (to) std::fputs(usage().c_str(), to);
      return false;
    }
    for (const auto& [key, v] : values_) {
      if (read_.count(key)) continue;
      // The closest name: fewest edits, at most a third of the name's length (at least 1), or one
      // that starts with what was given (`--batch` for `--batch-size`).
      // PyTorch's long names suggest the examples' short ones (`--weight-decay`: `--wd`), and back.
      std::string closest;
      std::size_t best = std::max<std::size_t>(1, key.size() / 3) + 1;
      for (const auto& [name, d] : options_) {
        const std::string c = canonical(name);
        const std::size_t e = key.size() >= 3 && c.rfind(key, 0) == 0 ? 0 : edits(key, c);
        const bool synonym = !key.empty() && (long_name(c) == key || long_name(key) == c);
        if (e < best || synonym) best = e, closest = name;
        if (synonym) break;
      }
      fail("unknown option --", typed(key), closest.empty() ? "" : " (did you mean --" + closest + "?)",
           "; --help lists this program's options");
    }
    return true;
  }

 private:
  // The words of `text`, split at spaces.
  static std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(std::move(w));
    return out;
  }
  // `words` joined by spaces into lines of at most 100 columns (a longer word alone on its line;
  // an empty word ends the line), every line indented by `indent` spaces and ended by a newline.
  static std::string wrapped(const std::vector<std::string>& words, std::size_t indent) {
    std::string out, line(indent, ' ');
    for (const std::string& w : words) {
      if (line.size() > indent && (w.empty() || line.size() + 1 + w.size() > 100)) {
        out += line + "\n";
        line.assign(indent, ' ');
      }
      if (!w.empty()) line += (line.size() > indent ? " " : "") + w;
    }
    return out + line + "\n";
  }
  static std::string long_name(const std::string& c) {
    return c == "wd" ? "weight-decay" : c == "lr" ? "learning-rate" : "";
  }
  static std::string canonical(std::string name) {
    std::replace(name.begin(), name.end(), '_', '-');
    return name;
  }
  // Records an option the program reads, with the text usage() shows for it.
  void known(const std::string& name, std::string shown) {
    if (read_.insert(canonical(name)).second) options_.emplace_back(name, std::move(shown));
  }
  // The option as the user typed it, or as the program spells it when not given.
  const std::string& typed(const std::string& name) const {
    const auto it = spelled_.find(canonical(name));
    return it == spelled_.end() ? name : it->second;
  }
  // Levenshtein distance between a and b.
  static std::size_t edits(const std::string& a, const std::string& b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diag = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
        diag = up;
      }
    }
    return row[b.size()];
  }

  std::string program_ = "program";
  std::string purpose_;                                       // what the program does (--help)
  std::map<std::string, std::string> about_;                  // canonical name -> what the option sets
  bool help_ = false;                                         // --help was given
  std::map<std::string, std::optional<std::string>> values_;  // by canonical name; nullopt: given without a value
  std::map<std::string, std::string> spelled_;                // canonical name -> as the user typed it
  std::set<std::string> read_;                                // canonical names the program read
  std::vector<std::pair<std::string, std::string>> options_;  // as the program spells them, with usage()'s text
};

// The --data option of the examples that read Fashion-MNIST: the folder of its IDX files, by
// default where Debian's dataset-fashion-mnist package puts them.
inline std::string fashion_mnist_dir(cli& args) {
  return args.get("data", std::string("/usr/share/datasets/fashion-mnist"),
                  about{"folder of the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist)"});
}

// How many processes the MPI launcher that started this one started in all (Open MPI's
// OMPI_COMM_WORLD_SIZE, MPICH's and Intel MPI's PMI_SIZE, MVAPICH's MV2_COMM_WORLD_SIZE, PMIx's
// PMIX_SIZE: the largest that reads as a whole number), 1 when none is set. A program built without
// MPI checks it: started by `mpirun -n 4`, four copies would each do all of the work into the same
// files.
inline long launched_processes() {
  long n = 1;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    errno = 0;
    const long k = std::strtol(v, &end, 10);
    if (*end == '\0' && errno == 0 && k > n) n = k;
  }
  return n;
}

// The items of a comma-separated list of words (`--kinds plain,resnet`), in order, empty items left
// out; cli::get_list reads lists of numbers.
inline std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace basin::examples
