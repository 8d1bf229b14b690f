// basin/core/error.hpp — errors are values a user can read.
//
// Every reader and public entry point reports bad input by throwing basin::error whose message
// names the file or argument, what was expected and what was found.
#pragma once

#include <charconv>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace basin {

class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream s;
  (s << ... << std::forward<Parts>(parts));
  return s.str();
}
}  // namespace detail

namespace detail {
template <class P>
decltype(auto) exact(P&& p) {
  if constexpr (std::is_floating_point_v<std::remove_cvref_t<P>>) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, p, std::chars_format::general);  // shortest exact
    return std::string(buf, r.ptr);
  } else {
    return std::forward<P>(p);
  }
}
}  // namespace detail

// The parts streamed together into one string, numbers as the shortest text that reads back to
// the same value (5e-4 gives "0.0005", 0.1 "0.1", 1.0000001 "1.0000001"): a description of a
// run (train/resume.hpp's recipes) that two different settings never share.
template <class... Parts>
std::string text(Parts&&... parts) {
  return detail::concat(detail::exact(std::forward<Parts>(parts))...);
}

// A string read from a file, as a message quotes it: whole up to max characters, else its start
// and how long it is (a malformed file's 100000-character attribute does not fill the screen).
inline std::string clipped(std::string_view s, std::size_t max = 120) {
  if (s.size() <= max) return std::string(s);
  return std::string(s.substr(0, max)) + "... (" + std::to_string(s.size()) + " characters)";
}

// Throws basin::error with the parts streamed together: fail("file '", f, "': expected ...").
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw error(detail::concat(std::forward<Parts>(parts)...));
}

// Throws unless cond holds; the message parts are only formatted on failure.
template <class... Parts>
void require(bool cond, Parts&&... parts) {
  if (!cond) fail(std::forward<Parts>(parts)...);
}

}  // namespace basin
