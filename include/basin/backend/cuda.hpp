// basin/backend/cuda.hpp — the CUDA backend: Thrust's CUDA system plus cuBLAS.
//
// Only available when compiled by nvcc (with --extended-lambda --expt-relaxed-constexpr).
// The same BASIN_HD functors the host backend runs through Thrust on OpenMP run here through
// Thrust on CUDA; GEMMs go to cuBLAS (row-major calls mapped onto column-major cuBLAS by
// computing C^T = op(B)^T op(A)^T). Every primitive runs on the backend's stream (stream(); a
// stream of its own, created blocking so that it stays ordered with the legacy default stream on
// which Thrust's vector constructors and copies run; set_stream() lends it a caller's stream), in
// order, so no synchronization is needed between primitives; only download() (and reading a
// reduction's result) waits, for that stream only. TF32 tensor-core math is off unless
// allow_tf32(true).
//
// Element-parallel kernels: on a GPU, neighbouring threads must touch neighbouring addresses, so
// for_each_line runs one thread per element (f.element(line, p)) where the host walks a whole
// line per call (f(line)).
//
// One program may hold .cpp and .cu translation units, but a model type of the host backend must
// be used in only one kind of them: the host's Winograd code is built with GCC's vector
// extensions, which nvcc's front end does not take, so in a .cu file the same type (e.g.
// model<resnet20, float, backend::host>) has other buffers and other code under the same names,
// and the linker keeps one file's member functions for both (test_cuda builds its host-backend
// references in its one .cu file, as nvcc compiles them).
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

#include <limits>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"

namespace basin::backend {

namespace detail {
inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("cuda backend: ", what, " failed: ", cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail("cuda backend: ", what, " failed: cuBLAS status ", int(s), " (", cublasGetStatusString(s), ")");
}

// out[s] = sum_i f(s, i): one block per segment, a strided loop per thread, then a tree in
// shared memory; accumulated in double as the host twin (host::segmented_reduce) does.
template <class F>
struct line_elements {
  F f;
  index_t len;
  __device__ void operator()(index_t i) const { f.element(i / len, i % len); }
};

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

// A block kernel (for_each_block): the functor's steps, a barrier after each; per-thread state
// in registers, the functor's shared memory dynamic.
template <class F>
__global__ void __launch_bounds__(F::threads, F::min_blocks) block_kernel(F f) {
  extern __shared__ __align__(16) unsigned char shared[];
  typename F::state st;
  for (int s = 0; s < F::steps(); ++s) {
    f.step(s, blockIdx.x, int(threadIdx.x), shared, st);
    __syncthreads();
  }
}

// A size or stride for cuBLAS's 32-bit interface; larger ones are refused instead of wrapping.
inline int blas_int(index_t v, const char* what) {
  require(v >= 0 && v <= index_t(std::numeric_limits<int>::max()), "cuda backend: ", what, " of a GEMM is ", v,
          ", more than cuBLAS's 32-bit interface holds (2^31 - 1): use a smaller batch");
  return int(v);
}

struct cublas_state {
  cublasHandle_t handle = nullptr;
  cudaStream_t stream = nullptr, own = nullptr;
  bool tf32 = false;
  cublas_state() {
    check(cudaStreamCreate(&own), "cudaStreamCreate");
    stream = own;
    check(cublasCreate(&handle), "cublasCreate");
    check(cublasSetStream(handle, stream), "cublasSetStream");
  }
  ~cublas_state() {
    cublasDestroy(handle);
    cudaStreamDestroy(own);
  }
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

  // The stream every primitive runs on; set_stream(s) makes them run on s instead (the caller
  // keeps s alive; set_stream(nullptr) returns to the backend's own stream). The work queued on
  // the stream before is finished first, so what follows sees its results. s must be a blocking
  // stream (cudaStreamCreate's default): Thrust's vector operations (resize, element access,
  // to_host) run on the legacy default stream, with which a cudaStreamNonBlocking stream is not
  // ordered.
  static cudaStream_t stream() { return detail::cublas_state::get().stream; }
  static void set_stream(cudaStream_t s) {
    auto& st = detail::cublas_state::get();
    if (s) {
      unsigned flags = 0;
      detail::check(cudaStreamGetFlags(s, &flags), "set_stream: cudaStreamGetFlags");
      require(!(flags & cudaStreamNonBlocking),
              "cuda::set_stream: the stream given was created with cudaStreamNonBlocking; basin needs a blocking "
              "stream (cudaStreamCreate), ordered with the legacy default stream Thrust's vectors use");
    }
    detail::check(cudaStreamSynchronize(st.stream), "set_stream: finishing the previous stream's work");
    st.stream = s ? s : st.own;
    detail::check(cublasSetStream(st.handle, st.stream), "cublasSetStream");
  }

  template <class F>
  static void for_each_index(index_t n, F f) {
    if (n <= 0) return;
    thrust::for_each(thrust::cuda::par_nosync.on(stream()), thrust::counting_iterator<index_t>(0),
                     thrust::counting_iterator<index_t>(n), f);
  }
  // One thread per element of `lines` lines of `len`: f.element(line, p).
  template <class F>
  static void for_each_line(index_t lines, index_t len, F f) {
    for_each_index(lines * len, detail::line_elements<F>{f, len});
  }
  // Block kernels: `blocks` thread blocks of F::threads threads with F::shared_bytes of shared
  // memory each run F::steps() steps, f.step(s, block, thread, shared, state), with a barrier
  // after each step (the host can run the same steps thread by thread; see layers/winograd.hpp).
  static constexpr bool block_kernels = true;
  // The most shared memory one block may ask for on the current device (99 KiB on many consumer
  // GPUs, 163 KiB on an A100, 227 KiB on an H100): kernels that need more take another path.
  static std::size_t block_shared_limit() {
    int device = 0, bytes = 0;
    detail::check(cudaGetDevice(&device), "cudaGetDevice");
    detail::check(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
                  "cudaDeviceGetAttribute");
    return std::size_t(bytes);
  }
  template <class F>
  static void for_each_block(index_t blocks, F f) {
    if (blocks <= 0) return;
    static const bool sized = [] {  // more than 48 KiB of dynamic shared memory must be asked for
      detail::check(cudaFuncSetAttribute(detail::block_kernel<F>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(F::shared_bytes)),
                    "cudaFuncSetAttribute");
      return true;
    }();
    (void)sized;
    detail::block_kernel<F><<<unsigned(blocks), F::threads, F::shared_bytes, stream()>>>(f);
    detail::check(cudaGetLastError(), "block kernel launch");
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
    detail::segmented_reduce_kernel<<<unsigned(segments), 256, 0, stream()>>>(len, f, out);
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
    using detail::blas_int;
    const int m_ = blas_int(m, "the row count"), n_ = blas_int(n, "the column count"), k_ = blas_int(k, "the depth"),
              lda_ = blas_int(lda, "lda"), ldb_ = blas_int(ldb, "ldb"), ldc_ = blas_int(ldc, "ldc");
    // column-major: C^T (n, m) = op(B)^T (n, k) op(A)^T (k, m)
    if constexpr (std::is_same_v<T, float>)
      detail::check(cublasSgemm(h, opb, opa, n_, m_, k_, &alpha, b, ldb_, a, lda_, &beta, c, ldc_), "cublasSgemm");
    else
      detail::check(cublasDgemm(h, opb, opa, n_, m_, k_, &alpha, b, ldb_, a, lda_, &beta, c, ldc_), "cublasDgemm");
  }

  // Strided-batched GEMM: C_i = alpha op(A_i) op(B_i) + beta C_i, X_i = x + i * stride_x.
  template <class T>
  static void gemm_batched(trans ta, trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                           index_t stride_a, const T* b, index_t ldb, index_t stride_b, T beta, T* c, index_t ldc,
                           index_t stride_c, index_t batch) {
    if (m == 0 || n == 0 || batch == 0) return;
    auto h = detail::cublas_state::get().handle;
    const auto opa = ta == trans::no ? CUBLAS_OP_N : CUBLAS_OP_T;
    const auto opb = tb == trans::no ? CUBLAS_OP_N : CUBLAS_OP_T;
    using detail::blas_int;
    const int m_ = blas_int(m, "the row count"), n_ = blas_int(n, "the column count"), k_ = blas_int(k, "the depth"),
              lda_ = blas_int(lda, "lda"), ldb_ = blas_int(ldb, "ldb"), ldc_ = blas_int(ldc, "ldc"),
              batch_ = blas_int(batch, "the batch count");
    if constexpr (std::is_same_v<T, float>)
      detail::check(cublasSgemmStridedBatched(h, opb, opa, n_, m_, k_, &alpha, b, ldb_, stride_b, a, lda_, stride_a,
                                              &beta, c, ldc_, stride_c, batch_),
                    "cublasSgemmStridedBatched");
    else
      detail::check(cublasDgemmStridedBatched(h, opb, opa, n_, m_, k_, &alpha, b, ldb_, stride_b, a, lda_, stride_a,
                                              &beta, c, ldc_, stride_c, batch_),
                    "cublasDgemmStridedBatched");
  }

  template <class T>
  static void copy(index_t n, const T* src, T* dst) {
    if (n > 0)
      detail::check(cudaMemcpyAsync(dst, src, sizeof(T) * std::size_t(n), cudaMemcpyDeviceToDevice, stream()), "copy");
  }
  template <class T>
  static void fill(index_t n, T value, T* dst) {
    if (n > 0) thrust::fill_n(thrust::cuda::par_nosync.on(stream()), dst, n, value);
  }
  // Host to device: queued on the stream. Pageable memory (std::vector's) is staged before the
  // call returns, so host_src may be reused at once; page-locked memory (cudaMallocHost) is read
  // later, and must stay unchanged until the stream has passed the copy.
  template <class T>
  static void upload(const T* host_src, index_t n, T* dst) {
    if (n > 0)
      detail::check(cudaMemcpyAsync(dst, host_src, sizeof(T) * std::size_t(n), cudaMemcpyHostToDevice, stream()),
                    "upload");
  }
  template <class T>
  static void download(const T* src, index_t n, T* host_dst) {
    if (n <= 0) return;
    detail::check(cudaMemcpyAsync(host_dst, src, sizeof(T) * std::size_t(n), cudaMemcpyDeviceToHost, stream()),
                  "download");
    detail::check(cudaStreamSynchronize(stream()), "download");
  }
  static void synchronize() { detail::check(cudaStreamSynchronize(stream()), "synchronize"); }
};

static_assert(backend<cuda>, "basin::backend::cuda must satisfy the backend concept");

}  // namespace basin::backend
