// basin/weights/packing.hpp — quantized weights stored packed: `bits` bits per weight.
//
// A weight on a grid (weights/quantize.hpp) is its level index: binary grids {-s, +s} store one
// bit (1 = +s, so sign(0) = +1 as the rounding gives), integer grids of `bits` bits store
// k + kmax in [0, 2 kmax] for the value k delta. The bits of consecutive weights follow each other
// in one little-endian bit stream (weight i at bit i * bits, least significant bit first), so a
// binary tensor takes n / 8 bytes: 32 times less than float. Unpacking gives back exactly the
// value the rounding produced (k delta and +-s computed in double, then cast to T, as there).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/weights/quantize.hpp"

namespace basin::quant {

// Bits per weight of a grid: 1 for binary, else the smallest b with 2^(b-1) - 1 >= kmax.
inline int bits_of(const grid& g) {
  if (g.binary) return 1;
  const double kmax = std::round(g.hi / g.delta);
  int b = 2;
  while (std::ldexp(1.0, b - 1) - 1 < kmax) ++b;
  return b;
}

// The packed bytes of w[0..n), every value on grid g. Throws basin::error naming `what` and
// the first value that is not exactly a grid level as the rounding gives it (T(k delta), T(+-s)).
template <class T>
std::vector<std::uint8_t> pack(const T* w, index_t n, const grid& g, const std::string& what) {
  const auto problem = grid_problem(g);  // what unpack would refuse is refused before it is written
  require(problem.empty(), "pack: ", what, ": ", problem);
  require(n >= 0, "pack: ", what, ": n = ", n, ", expected 0 or more weights");
  const int bits = bits_of(g);
  const double kmax = g.binary ? 0 : std::round(g.hi / g.delta);
  std::vector<std::uint8_t> out(static_cast<std::size_t>((n * bits + 7) / 8), 0);
  for (index_t i = 0; i < n; ++i) {
    const double v = double(w[i]);
    std::uint32_t code;
    // On the grid means: exactly the value unpack gives back for its level.
    if (g.binary) {
      require(w[i] == T(g.hi) || w[i] == T(g.lo), "pack: ", what, "[", i, "] = ", v,
              " is not on the binary grid {", g.lo, ", ", g.hi, "}");
      code = w[i] == T(g.hi) ? 1 : 0;
    } else {
      const double k = std::round(v / g.delta);
      require(std::fabs(k) <= kmax && w[i] == T(std::copysign(std::fabs(k) * g.delta, k)), "pack: ", what, "[", i,
              "] = ", v, " is not on the integer grid of spacing ", g.delta, " with levels -", kmax, "..", kmax);
      code = std::uint32_t(k + kmax);
    }
    const index_t bit = i * bits;
    for (int b = 0; b < bits; ++b)
      if (code >> b & 1u) out[std::size_t((bit + b) / 8)] |= std::uint8_t(1u << ((bit + b) % 8));
  }
  return out;
}

// w[0..n) <- the grid values packed in bytes (as pack wrote them). Throws basin::error naming
// `what` when bytes is too short or holds a level outside the grid.
template <class T>
void unpack(const std::vector<std::uint8_t>& bytes, index_t n, const grid& g, T* w, const std::string& what) {
  const auto problem = grid_problem(g);
  require(problem.empty(), "unpack: ", what, ": ", problem);
  const int bits = bits_of(g);
  const double kmax = g.binary ? 0 : std::round(g.hi / g.delta);
  require(index_t(bytes.size()) == (n * bits + 7) / 8, "unpack: ", what, " holds ", bytes.size(), " bytes, expected ",
          (n * bits + 7) / 8, " for ", n, " weights of ", bits, " bit(s)");
  for (index_t i = 0; i < n; ++i) {
    std::uint32_t code = 0;
    const index_t bit = i * bits;
    for (int b = 0; b < bits; ++b) code |= std::uint32_t(bytes[std::size_t((bit + b) / 8)] >> ((bit + b) % 8) & 1u) << b;
    if (g.binary) {
      w[i] = T(code ? g.hi : g.lo);
    } else {
      require(double(code) <= 2 * kmax, "unpack: ", what, "[", i, "] has level ", code, ", beyond the grid's ",
              2 * kmax);
      w[i] = T(std::copysign((std::fabs(double(code) - kmax)) * g.delta, double(code) - kmax));
    }
  }
}

}  // namespace basin::quant
