// basin/backend/concepts.hpp — what a backend must provide.
//
// A backend is a policy type with a handful of primitives; layers, optimizers and sweeps call
// only these, so a new backend (cuda) is one file. A primitive a backend lacks is a compile
// error at the `requires` below naming the backend, never a runtime "not supported".
//
// All primitives take raw pointers into the backend's memory and sizes in elements; matrices
// are row-major with an explicit leading dimension, as in the shape comments at each call.
#pragma once

#include <concepts>
#include <thrust/memory.h>
#include <vector>

#include "basin/core/config.hpp"

namespace basin::backend {

enum class trans { no, yes };

// The functor a backend runs per index: f(i) for i in [0, n).
struct index_probe {
  BASIN_HD void operator()(index_t) const {}
};
// The functor a backend runs per line of elements: f(line) on the host, f.element(line, p) on
// devices.
struct line_probe {
  BASIN_HD void operator()(index_t) const {}
  BASIN_HD void element(index_t, index_t) const {}
};
// The functor a backend runs per task: f(task, worker).
struct task_probe {
  void operator()(index_t, int) const {}
};
// The functor a segmented reduction sums: f(segment, i).
struct reduce_probe {
  BASIN_HD double operator()(index_t, index_t) const { return 0; }
};

template <class B>
concept backend = requires(float* p, const float* cp, double* dp, const double* cdp, index_t n,
                           std::vector<float>& hv) {
  typename B::template vector<float>;
  typename B::template vector<double>;
  { B::name } -> std::convertible_to<const char*>;
  { B::workspace_budget } -> std::convertible_to<index_t>;
  B::for_each_index(n, index_probe{});
  B::for_each_line(n, n, line_probe{});
  B::segmented_reduce(n, n, reduce_probe{}, p);
  B::segmented_reduce(n, n, reduce_probe{}, dp);
  B::gemm(trans::no, trans::no, n, n, n, 1.0f, cp, n, cp, n, 0.0f, p, n);
  B::gemm(trans::no, trans::no, n, n, n, 1.0, cdp, n, cdp, n, 0.0, dp, n);
  B::gemm_batched(trans::no, trans::no, n, n, n, 1.0f, cp, n, n, cp, n, n, 0.0f, p, n, n, n);
  B::gemm_batched(trans::no, trans::no, n, n, n, 1.0, cdp, n, n, cdp, n, n, 0.0, dp, n, n, n);
  B::copy(n, cp, p);
  B::fill(n, 0.0f, p);
  B::upload(cp, n, p);
  B::download(cp, n, p);
  B::synchronize();
  { B::concurrency() } -> std::convertible_to<int>;
  B::for_each_task(n, task_probe{});
};

// Raw pointer to a backend vector's storage.
template <class V>
auto raw(V& v) {
  return thrust::raw_pointer_cast(v.data());
}

}  // namespace basin::backend
