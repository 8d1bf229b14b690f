// basin/core/config.hpp — the one place that knows which compiler is looking.
//
// BASIN_HD marks every kernel functor's call operator: `__host__ __device__` under nvcc, nothing
// under a plain C++ compiler. The same functor thus runs through Thrust's OpenMP system in the
// host tests and through Thrust's CUDA system on a GPU. BASIN_UNROLL asks nvcc to unroll the
// loop that follows (a register array indexed by its counter stays in registers only so);
// BASIN_NO_UNROLL asks it not to (fewer values live at once).
#pragma once

#if defined(__CUDACC__)
#define BASIN_HD __host__ __device__
#define BASIN_UNROLL _Pragma("unroll")
#define BASIN_NO_UNROLL _Pragma("unroll 1")
#else
#define BASIN_HD
#define BASIN_UNROLL
#define BASIN_NO_UNROLL
#endif

#include <cstddef>
#include <cstdint>

namespace basin {
using index_t = std::int64_t;  // element counts and offsets: batches times images overflow int
}  // namespace basin
