// basin/core/error.hpp — errors are values a user can read.
//
// Every reader and public entry point reports bad input by throwing basin::error whose message
// names the file or argument, what was expected and what was found.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
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

// The parts streamed together into one string, as fail() formats its message (numbers with six
// significant digits: 5e-4 gives "0.0005").
template <class... Parts>
std::string text(Parts&&... parts) {
  return detail::concat(std::forward<Parts>(parts)...);
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
