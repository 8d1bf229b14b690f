// basin/core/digest.hpp — FNV-1a (64 bit) over bytes, written as 16 hex digits: what files record
// of the data and weights they were made from (a surface's origin and directions, a training
// recipe's data), so that a resumed run cannot mix results of other inputs. Not cryptographic:
// it tells runs apart, it does not defend against forgery.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace basin {

struct fnv1a {
  std::uint64_t h = 14695981039346656037ull;
  static constexpr std::uint64_t prime = 1099511628211ull;

  // The bytes p[0, n) in order.
  void add(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * prime;
  }
  // One whole value in a single step (where one buffer ends and the next begins).
  void mix(std::uint64_t v) { h = (h ^ v) * prime; }
  std::string hex() const {
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
    return text;
  }
};

}  // namespace basin
