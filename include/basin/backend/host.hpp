// basin/backend/host.hpp — the host backend: Thrust's OpenMP system plus Eigen's GEMM.
//
// Parallelism: elementwise kernels and reductions run through Thrust on OpenMP; a GEMM runs on
// Eigen's own OpenMP threads. Eigen notices when it is called inside a parallel region and then
// stays single-threaded, so the two levels never nest.
#pragma once

#include <Eigen/Core>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <omp.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>

#include "basin/backend/concepts.hpp"

namespace basin::backend {

struct host {
  static constexpr const char* name = "host";
  static constexpr bool host_memory = true;  // kernels may use the CPU's vector extensions
  template <class T>
  using vector = thrust::omp::vector<T>;
  // Column buffers per convolution task stay within a core's L2 (256 KiB of float).
  static constexpr index_t workspace_budget = index_t(1) << 16;

  // f(i) for every i in [0, n), in parallel, in no particular order.
  template <class F>
  static void for_each_index(index_t n, F f) {
    if (n <= 0) return;
    thrust::for_each(thrust::omp::par, thrust::counting_iterator<index_t>(0),
                     thrust::counting_iterator<index_t>(n), f);
  }

  // f(line) for every line in [0, lines): a line is `len` consecutive elements (a plane of an
  // image, a row), walked by one call on the host so per-line setup is paid once and the inner
  // loop vectorizes. (Devices run f.element(line, p) per element instead: see cuda.hpp.)
  template <class F>
  static void for_each_line(index_t lines, index_t, F f) {
    for_each_index(lines, f);
  }

  // Keeps glibc from returning large blocks to the kernel after every free: Eigen's GEMM
  // allocates its packing buffers per call, and with glibc's defaults each such allocation is a
  // fresh mmap whose pages the kernel zeroes (11% of a training step measured). Called once by
  // the first GEMM; define BASIN_NO_MALLOC_TUNING to leave malloc alone.
  static void tune_malloc() {
#if !defined(BASIN_NO_MALLOC_TUNING) && defined(__GLIBC__)
    static const bool once = [] {
      mallopt(M_MMAP_THRESHOLD, 64 << 20);
      mallopt(M_TRIM_THRESHOLD, 256 << 20);
      return true;
    }();
    (void)once;
#endif
  }

  // The number of workers for_each_task may use at once.
  static int concurrency() { return omp_get_max_threads(); }

  // f(task, worker) for every task in [0, tasks): tasks run concurrently, worker in
  // [0, concurrency()) names the thread, and one worker runs its tasks one after another, so
  // worker-private scratch is safe. Primitives called inside f run on the calling worker only
  // (the GEMM inside is single-threaded): the parallelism is across tasks.
  template <class F>
  static void for_each_task(index_t tasks, F f) {
#pragma omp parallel for schedule(dynamic)
    for (index_t t = 0; t < tasks; ++t) f(t, omp_get_thread_num());
  }

  // out[s] = sum over i in [0, len) of f(s, i), for s in [0, segments); accumulated in double,
  // in `lanes` interleaved partial sums (element i into partial i % lanes) added pairwise at the
  // end: eight independent chains instead of one add's latency per element, in an order fixed
  // by len alone.
  template <class F, class T>
  static void segmented_reduce(index_t segments, index_t len, F f, T* out) {
    for_each_index(segments, [=](index_t s) {
      constexpr int lanes = 8;
      double acc[lanes] = {};
      index_t i = 0;
      for (; i + lanes <= len; i += lanes)
        for (int l = 0; l < lanes; ++l) acc[l] += f(s, i + l);
      for (int l = 0; i < len; ++i, ++l) acc[l] += f(s, i);
      out[s] = T(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    });
  }

  // C (m, n) = alpha * op(A) (m, k) * op(B) (k, n) + beta * C, all row-major.
  template <class T>
  static void gemm(trans ta, trans tb, index_t m, index_t n, index_t k, T alpha, const T* a,
                   index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    tune_malloc();
    using mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using cmap = Eigen::Map<const mat, 0, Eigen::OuterStride<>>;
    Eigen::Map<mat, 0, Eigen::OuterStride<>> C(c, m, n, Eigen::OuterStride<>(ldc));
    if (beta == T(0))
      C.setZero();
    else if (beta != T(1))
      C *= beta;
    if (m == 0 || n == 0 || k == 0) return;
    const auto A = [&](auto&& rhs) {
      if (ta == trans::no)
        rhs(cmap(a, m, k, Eigen::OuterStride<>(lda)));
      else
        rhs(cmap(a, k, m, Eigen::OuterStride<>(lda)).transpose());
    };
    A([&](auto&& Am) {
      if (tb == trans::no)
        C.noalias() += alpha * Am * cmap(b, k, n, Eigen::OuterStride<>(ldb));
      else
        C.noalias() += alpha * Am * cmap(b, n, k, Eigen::OuterStride<>(ldb)).transpose();
    });
  }

  // C_i = alpha op(A_i) op(B_i) + beta C_i for i in [0, batch), X_i = x + i * stride_x: a
  // strided-batched GEMM (cuBLAS's on the device); here the batch runs across the workers.
  template <class T>
  static void gemm_batched(trans ta, trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                           index_t stride_a, const T* b, index_t ldb, index_t stride_b, T beta, T* c, index_t ldc,
                           index_t stride_c, index_t batch) {
    for_each_task(batch, [&](index_t i, int) {
      gemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c, ldc);
    });
  }

  template <class T>
  static void copy(index_t n, const T* src, T* dst) {
    for_each_index(n, [=](index_t i) { dst[i] = src[i]; });
  }
  template <class T>
  static void fill(index_t n, T value, T* dst) {
    for_each_index(n, [=](index_t i) { dst[i] = value; });
  }
  // Host memory to backend memory and back (plain copies here; device transfers on cuda).
  template <class T>
  static void upload(const T* host_src, index_t n, T* dst) {
    if (n > 0) std::memcpy(dst, host_src, sizeof(T) * std::size_t(n));
  }
  template <class T>
  static void download(const T* src, index_t n, T* host_dst) {
    if (n > 0) std::memcpy(host_dst, src, sizeof(T) * std::size_t(n));
  }
  static void synchronize() {}
};

static_assert(backend<host>, "basin::backend::host must satisfy the backend concept");

}  // namespace basin::backend
