// basin/core/random.hpp — counter-based random numbers (Philox4x32-10).
//
// Salmon, Moraes, Dror, Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3" (SC'11).
// Every number is a pure function of (seed, stream, index): the same seed gives the same
// initialization, shuffle, direction or stochastic rounding on every backend and thread count,
// because no generator state is carried from one element to the next.
//
// Streams name what the numbers are for (see `stream`), so two uses of one seed never overlap.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "basin/core/config.hpp"

namespace basin {

// Well-known stream ids; a user may pass any other 64-bit value.
namespace stream {
inline constexpr std::uint64_t init = 1;       // parameter initialization (offset by segment)
inline constexpr std::uint64_t shuffle = 2;    // data order (offset by epoch)
inline constexpr std::uint64_t direction = 3;  // landscape directions
inline constexpr std::uint64_t rounding = 4;   // stochastic rounding
inline constexpr std::uint64_t augment = 5;    // data augmentation
// 6 and 7: gan::noise_stream, gan::data_stream
inline constexpr std::uint64_t prune = 8;  // prune_by::random's choice of channels (offset by group)
}  // namespace stream

struct philox4x32 {
  using block = std::array<std::uint32_t, 4>;

  // One Philox4x32 block with 10 rounds. Requires nothing; ensures the Random123 known answers
  // (tests/core checks them).
  BASIN_HD static block generate(block ctr, std::uint32_t k0, std::uint32_t k1) {
    constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
    for (int r = 0; r < 10; ++r) {
      const std::uint64_t p0 = std::uint64_t(m0) * ctr[0];
      const std::uint64_t p1 = std::uint64_t(m1) * ctr[2];
      ctr = {std::uint32_t(p1 >> 32) ^ ctr[1] ^ k0, std::uint32_t(p1),
             std::uint32_t(p0 >> 32) ^ ctr[3] ^ k1, std::uint32_t(p0)};
      k0 += w0;
      k1 += w1;
    }
    return ctr;
  }
};

// A keyed view of the generator: the numbers of one (seed, stream), addressed by index.
struct counter_rng {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;

  BASIN_HD philox4x32::block bits(std::uint64_t block_index) const {
    return philox4x32::generate({std::uint32_t(block_index), std::uint32_t(block_index >> 32),
                                 std::uint32_t(stream), std::uint32_t(stream >> 32)},
                                std::uint32_t(seed), std::uint32_t(seed >> 32));
  }
  // Uniform on (0, 1), never 0 or 1: the i-th number of this stream.
  BASIN_HD double uniform(std::uint64_t i) const {
    const auto b = bits(i / 4);
    return (double(b[i % 4]) + 0.5) * (1.0 / 4294967296.0);
  }
  // A uniform integer in [0, n) (n < 2^32; bias below 2^-32 * n, negligible for shuffles).
  BASIN_HD std::uint32_t below(std::uint64_t i, std::uint32_t n) const {
    const auto b = bits(i / 4);
    return std::uint32_t((std::uint64_t(b[i % 4]) * n) >> 32);
  }
  // Standard normal, Box-Muller on 53-bit uniforms: numbers 2j and 2j+1 come from block j.
  BASIN_HD double normal(std::uint64_t i) const {
    const auto b = bits(i / 2);
    const double u1 = (double((static_cast<std::uint64_t>(b[0]) << 21) ^ (b[1] >> 11)) + 0.5) * 0x1p-53;
    const double u2 = (double((static_cast<std::uint64_t>(b[2]) << 21) ^ (b[3] >> 11)) + 0.5) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double t = 6.283185307179586476925 * u2;
    return (i % 2) ? r * std::sin(t) : r * std::cos(t);
  }
};

}  // namespace basin
