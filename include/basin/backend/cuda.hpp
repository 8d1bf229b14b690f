// basin/backend/cuda.hpp — the CUDA backend: Thrust's CUDA system plus cuBLAS.
//
// Only available when compiled by nvcc (with --extended-lambda --expt-relaxed-constexpr).
// The same BASIN_HD functors the host backend runs through Thrust on OpenMP run here through
// Thrust on CUDA; GEMMs go to cuBLAS (row-major calls mapped onto column-major cuBLAS by
// computing C^T = op(B)^T op(A)^T). Everything runs on the legacy default stream, in order, so
// no synchronization is needed between primitives; only download() (and reading a reduction's
// result) waits for the device. TF32 tensor-core math is off unless allow_tf32(true).
#pragma once

#if !defined(__CUDACC__)
#error "basin/backend/cuda.hpp needs nvcc: compile this translation unit as CUDA"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <thrust/device_vector.h>
#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system/cuda/vector.h>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"

namespace basin::backend {

namespace detail {
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("cuda backend: ", what, " failed: ", cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cuda backend: ", what, " failed: cuBLAS status ", int(s));
}

// out[s] = sum_i f(s, i): one block per segment, a strided loop per thread, then a tree in
// shared memory; accumulated in double as the host twin (host::segmented_reduce) does.
template <class F, class T>
__global__ void segmented_reduce_kernel(index_t len, F f, T* out) {
  __shared__ double part[256];
  const index_t s = blockIdx.x;
  double acc = 0;
  for (index_t i = threadIdx.x; i < len; i += blockDim.x) acc += f(s, i);
  part[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[s] = T(part[0]);
}

struct cublas_state {
  cublasHandle_t handle = nullptr;
  bool tf32 = false;
  cublas_state() { check(cublasCreate(&handle), "cublasCreate"); }
  ~cublas_state() { cublasDestroy(handle); }
  static cublas_state& get() {
    static cublas_state s;
    return s;
  }
};
}  // namespace detail

struct cuda {
  static constexpr const char* name = "cuda";
  template <class T>
  using vector = thrust::cuda::vector<T>;
  // Column buffers of a whole batch fit on a GPU: one convolution task covers many images.
  static constexpr index_t workspace_budget = index_t(1) << 26;

  // Allows TF32 tensor cores in float GEMMs (about 1e-3 relative error instead of 1e-6).
  static void allow_tf32(bool on) {
    auto& s = detail::cublas_state::get();
    s.tf32 = on;
    detail::check(cublasSetMathMode(s.handle, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
                  "cublasSetMathMode");
  }

  template <class F>
  static void for_each_index(index_t n, F f) {
    if (n <= 0) return;
    thrust::for_each(thrust::cuda::par_nosync, thrust::counting_iterator<index_t>(0),
                     thrust::counting_iterator<index_t>(n), f);
  }
  static int concurrency() { return 1; }
  // Tasks run one after another on the host thread; their primitives queue on the device.
  template <class F>
  static void for_each_task(index_t tasks, F f) {
    for (index_t t = 0; t < tasks; ++t) f(t, 0);
  }
  template <class F, class T>
  static void segmented_reduce(index_t segments, index_t len, F f, T* out) {
    if (segments <= 0) return;
    detail::segmented_reduce_kernel<<<unsigned(segments), 256>>>(len, f, out);
    detail::check(cudaGetLastError(), "segmented_reduce launch");
  }

  // C (m, n) = alpha op(A) op(B) + beta C, row-major, as host::gemm.
  template <class T>
  static void gemm(trans ta, trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                   const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    if (m == 0 || n == 0) return;
    auto h = detail::cublas_state::get().handle;
    const auto opa = ta == trans::no ? CUBLAS_OP_N : CUBLAS_OP_T;
    const auto opb = tb == trans::no ? CUBLAS_OP_N : CUBLAS_OP_T;
    // column-major: C^T (n, m) = op(B)^T (n, k) op(A)^T (k, m)
    if constexpr (std::is_same_v<T, float>)
      detail::check(cublasSgemm(h, opb, opa, int(n), int(m), int(k), &alpha, b, int(ldb), a, int(lda), &beta, c,
                                int(ldc)),
                    "cublasSgemm");
    else
      detail::check(cublasDgemm(h, opb, opa, int(n), int(m), int(k), &alpha, b, int(ldb), a, int(lda), &beta, c,
                                int(ldc)),
                    "cublasDgemm");
  }

  template <class T>
  static void copy(index_t n, const T* src, T* dst) {
    if (n > 0) detail::check(cudaMemcpyAsync(dst, src, sizeof(T) * std::size_t(n), cudaMemcpyDeviceToDevice), "copy");
  }
  template <class T>
  static void fill(index_t n, T value, T* dst) {
    if (n > 0) thrust::fill_n(thrust::cuda::par_nosync, dst, n, value);
  }
  template <class T>
  static void upload(const T* host_src, index_t n, T* dst) {
    if (n > 0) detail::check(cudaMemcpy(dst, host_src, sizeof(T) * std::size_t(n), cudaMemcpyHostToDevice), "upload");
  }
  template <class T>
  static void download(const T* src, index_t n, T* host_dst) {
    if (n > 0) detail::check(cudaMemcpy(host_dst, src, sizeof(T) * std::size_t(n), cudaMemcpyDeviceToHost), "download");
  }
  static void synchronize() { detail::check(cudaDeviceSynchronize(), "synchronize"); }
};

static_assert(backend<cuda>, "basin::backend::cuda must satisfy the backend concept");

}  // namespace basin::backend
