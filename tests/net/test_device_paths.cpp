// The device code paths, run on the host: `as_device` is the host backend without host_memory,
// with for_each_line calling f.element(line, p) per element, tasks one after another and one
// worker, and a device-sized workspace budget, exactly as backend::cuda drives the same functors.
// So every kernel the GPU runs (element-parallel im2col, col2im, epilogues and batch norm,
// Winograd by strided-batched GEMM, the staged first layer) is checked here, on every CI run,
// against the host's own paths to double rounding.
#include <array>
#include <boost/test/unit_test.hpp>
#include <typeinfo>
#include <utility>

#include "../layers/gradcheck.hpp"
#include "../random_data.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"

using namespace basin;
using host = backend::host;

namespace {
struct as_device {
  static constexpr const char* name = "host-as-device";
  template <class T>
  using vector = host::vector<T>;
  static constexpr index_t workspace_budget = index_t(1) << 26;
  template <class F>
  static void for_each_index(index_t n, F f) {
    host::for_each_index(n, f);
  }
  template <class F>
  static void for_each_line(index_t lines, index_t len, F f) {
    host::for_each_index(lines * len, [=](index_t i) { f.element(i / len, i % len); });
  }
  // Block kernels as a GPU runs them, each block's threads one after another within a step.
  static constexpr bool block_kernels = true;
  static std::size_t block_shared_limit() { return std::size_t(1) << 30; }
  static inline long blocks_run = 0;  // block kernels run so far (tests check which path ran)
  static inline const std::type_info* last_block = nullptr;  // and the functor of the last one
  template <class F>
  static void for_each_block(index_t blocks, F f) {
    ++blocks_run;
    last_block = &typeid(F);
    host::for_each_index(blocks, [=](index_t b) {
      std::vector<unsigned char> shared(F::shared_bytes, 0xff);  // garbage (NaN) until written, as on a device
      std::vector<typename F::state> st(F::threads);
      for (int s = 0; s < F::steps(); ++s)
        for (int t = 0; t < F::threads; ++t) f.step(s, b, t, shared.data(), st[std::size_t(t)]);
    });
  }
  static int concurrency() { return 1; }
  template <class F>
  static void for_each_task(index_t tasks, F f) {
    for (index_t t = 0; t < tasks; ++t) f(t, 0);
  }
  template <class F, class T>
  static void segmented_reduce(index_t segments, index_t len, F f, T* out) {
    host::segmented_reduce(segments, len, f, out);
  }
  template <class T>
  static void gemm(backend::trans ta, backend::trans tb, index_t m, index_t n, index_t k, T alpha, const T* a,
                   index_t lda, const T* b, index_t ldb, T beta, T* c, index_t ldc) {
    host::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  template <class T>
  static void gemm_batched(backend::trans ta, backend::trans tb, index_t m, index_t n, index_t k, T alpha, const T* a,
                           index_t lda, index_t sa, const T* b, index_t ldb, index_t sb, T beta, T* c, index_t ldc,
                           index_t sc, index_t batch) {
    host::gemm_batched(ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch);
  }
  template <class T>
  static void copy(index_t n, const T* src, T* dst) {
    host::copy(n, src, dst);
  }
  template <class T>
  static void fill(index_t n, T v, T* dst) {
    host::fill(n, v, dst);
  }
  template <class T>
  static void upload(const T* s, index_t n, T* d) {
    host::upload(s, n, d);
  }
  template <class T>
  static void download(const T* s, index_t n, T* d) {
    host::download(s, n, d);
  }
  static void synchronize() {}
};
static_assert(backend::backend<as_device>);
// A device that gives a block 64 KiB of shared memory: too little for the one-kernel Winograd.
struct as_small_device : as_device {
  static std::size_t block_shared_limit() { return std::size_t(64) << 10; }
};

template <class V>
double max_rel(const V& a, const V& b) {
  double d = 0, s = 1e-300;
  for (std::size_t i = 0; i < std::size_t(a.size()); ++i) {
    // worse keeps a NaN (std::max drops it): a NaN read from unwritten memory must fail.
    d = test::worse(d, std::abs(double(a[i]) - double(b[i])));
    s = test::worse(s, std::abs(double(b[i])));
  }
  return d / s;
}

// One conv layer on the host (H) and on the device path (D), n images: random weights, input,
// residual and epilogue; run(l, y, full) runs l's inference path with the whole epilogue
// (scale, shift, residual, relu) or none, on x (or on xin).
template <class H, class D>
struct conv_case {
  index_t n;
  std::vector<double> w, x, res, scale, shift;
  H h;
  D d;
  conv_case(index_t images, std::uint64_t seed)
      : n(images), w(std::size_t(H::n_params)), x(std::size_t(n * H::in.size())), res(std::size_t(n * H::out.size())),
        scale(static_cast<std::size_t>(H::out.c)), shift(static_cast<std::size_t>(H::out.c)) {
    const counter_rng rng{seed, seed};
    std::uint64_t at = 0;
    for (auto* v : {&w, &x, &res, &scale, &shift}) {
      for (std::size_t i = 0; i < v->size(); ++i) (*v)[i] = rng.normal(at + i);
      at += 100000;
    }
    h.reserve(n);
    d.reserve(n);
  }
  template <class L>
  void run(L& l, double* y, bool full, const double* xin = nullptr) {
    l.forward_affine(w.data(), xin ? xin : x.data(), y, n, full ? scale.data() : nullptr,
                     full ? shift.data() : nullptr, full, full ? res.data() : nullptr);
  }
  std::vector<double> host(bool full) {
    std::vector<double> y(res.size());
    run(h, y.data(), full);
    return y;
  }
};

// The one-kernel Winograd functor that variant V of conv layer D runs: its own, or variant 0's
// where its filters a block do not divide the layer's filters (fused_forward's fallback).
template <class D, std::size_t V>
const std::type_info* fused_kernel_of() {
  namespace wg = detail::winograd;
  using Cfg = std::tuple_element_t<V, wg::fused_variants>;
  using Ran = std::conditional_t<D::out.c % Cfg::outs == 0, Cfg, std::tuple_element_t<0, wg::fused_variants>>;
  return &typeid(wg::fused_fn<double, D::in, D::out, Ran>);
}
template <class D, std::size_t... V>
std::array<const std::type_info*, sizeof...(V)> fused_kernels(std::index_sequence<V...>) {
  return {fused_kernel_of<D, V>()...};
}

// One 3x3 conv's inference path (scale, shift, residual, relu in the epilogue; bias when B) on
// the device path, with the fused Winograd kernel and with the separate kernels, against the
// host's, in double: blocks of tiles that end inside an image, cropped tiles, a partial last block.
template <int Out, dims In, bool Bias = false>
void compare_fused(index_t n) {
  using H = typename conv<Out, 3, 1, 1, Bias>::template bind<In, double, host>;
  using D = typename conv<Out, 3, 1, 1, Bias>::template bind<In, double, as_device>;
  static_assert(D::fused_shape && !H::fused_shape);
  conv_case<H, D> cc(n, 41);
  D& d = cc.d;
  const auto kernels = fused_kernels<D>(std::make_index_sequence<detail::winograd::n_fused_variants>{});
  for (const bool full : {true, false}) {
    const std::vector<double> yh = cc.host(full);
    std::vector<double> yf(yh.size()), ys(yh.size());
    d.use_fused = true;
    long before = as_device::blocks_run;
    cc.run(d, yf.data(), full);
    BOOST_TEST(as_device::blocks_run == before + 1);  // the one kernel ran, variant 0's
    BOOST_TEST((as_device::last_block == kernels[0]));
    d.use_fused = false;
    before = as_device::blocks_run;
    cc.run(d, ys.data(), full);
    BOOST_TEST(as_device::blocks_run == before);  // the separate kernels: no block kernel
    BOOST_TEST(max_rel(yf, yh) < 1e-12);
    BOOST_TEST(max_rel(ys, yh) < 1e-12);
    // The kernel's other register blocks (detail::winograd::fused_variants; the one with 32
    // filters a block falls back to the default for 16 filters).
    d.use_fused = true;
    // Those staging by rows also with the input one value off 16-byte alignment (rows then
    // copied value by value).
    std::vector<double> xb(cc.x.size() + 1);
    std::copy(cc.x.begin(), cc.x.end(), xb.begin() + 1);
    for (int v = 1; v < detail::winograd::n_fused_variants; ++v) {
      std::vector<double> yv(yh.size());
      d.fused_variant = v;
      before = as_device::blocks_run;
      cc.run(d, yv.data(), full);
      BOOST_TEST(as_device::blocks_run == before + 1, "variant " << v);
      BOOST_TEST((as_device::last_block == kernels[std::size_t(v)]), "variant " << v << " ran another kernel");
      BOOST_TEST(max_rel(yv, yh) < 1e-12, "variant " << v);
      if (v >= 4) {
        cc.run(d, yv.data(), full, xb.data() + 1);
        BOOST_TEST(max_rel(yv, yh) < 1e-12, "variant " << v << ", input off alignment");
      }
    }
    d.fused_variant = 0;
  }
}

// One conv that Winograd does not take, through the direct kernel (detail::direct_conv_fn)
// and through im2col + GEMM on the device path, against the host's, in double, with and without
// the epilogue (scale, shift, residual, relu; bias when B), y also off 16-byte alignment.
template <int Out, int K, int S, int P, dims In, bool Bias = false>
void compare_direct(index_t n) {
  using H = typename conv<Out, K, S, P, Bias>::template bind<In, double, host>;
  using D = typename conv<Out, K, S, P, Bias>::template bind<In, double, as_device>;
  static_assert(D::direct_kernel_shape && !H::direct_kernel_shape);
  conv_case<H, D> cc(n, 47);
  D& d = cc.d;
  for (const bool full : {true, false}) {
    const std::vector<double> yh = cc.host(full);
    std::vector<double> yd(yh.size()), yi(yh.size()), yo(yh.size() + 1);
    const long before = as_device::blocks_run;
    cc.run(d, yd.data(), full);
    BOOST_TEST(as_device::blocks_run == before + 1);  // the direct kernel ran
    BOOST_TEST(max_rel(yd, yh) < 1e-12);
    cc.run(d, yo.data() + 1, full);
    BOOST_TEST(max_rel(std::vector<double>(yo.begin() + 1, yo.end()), yh) < 1e-12, "y off alignment");
    d.use_direct_kernel = false;
    cc.run(d, yi.data(), full);
    d.use_direct_kernel = true;
    BOOST_TEST(as_device::blocks_run == before + 2);  // im2col + GEMM ran no block kernel
    BOOST_TEST(max_rel(yi, yh) < 1e-12);
  }
}

// One 3x3 conv's backward on the device path, the input gradient by the one-kernel Winograd of
// the transposed conv and by col2im, against the host's (Winograd too), in double.
template <int Out, dims In>
void compare_fused_backward(index_t n) {
  using H = typename conv<Out, 3>::template bind<In, double, host>;
  using D = typename conv<Out, 3>::template bind<In, double, as_device>;
  static_assert(D::fused_backward && H::winograd_backward);
  conv_case<H, D> cc(n, 49);  // res: the output gradient
  const auto backward = [&](auto& l) {
    std::vector<double> gw(cc.w.size()), dx(cc.x.size(), 7.0);
    l.backward(cc.w.data(), gw.data(), cc.x.data(), nullptr, cc.res.data(), dx.data(), n);
    return std::pair{gw, dx};
  };
  const auto [gh, dh] = backward(cc.h);
  const long before = as_device::blocks_run;
  const auto [gf, df] = backward(cc.d);
  BOOST_TEST(as_device::blocks_run == before + 1);  // the one kernel ran
  cc.d.use_fused = false;
  const auto [gs, ds] = backward(cc.d);
  BOOST_TEST(as_device::blocks_run == before + 1);  // col2im
  BOOST_TEST(max_rel(df, dh) < 1e-12);
  BOOST_TEST(max_rel(ds, dh) < 1e-12);
  BOOST_TEST(max_rel(gf, gh) < 1e-12);
  BOOST_TEST(max_rel(gs, gh) < 1e-12);
}

// A net with every layer kind a device runs: Winograd convs, a strided conv with a bias, 1x1
// projections, pools, a plain residual.
using mixed_net = network<input<2, 11, 12>, conv<8, 3>, batch_norm, relu, residual<conv<8, 3>, batch_norm, relu>,
                          conv<12, 3, 2, 1, true>, batch_norm, relu, zoo::basic_block<16, 2, shortcut::automatic>,
                          max_pool<2>, conv<6, 1, 1, 0>, relu, global_avg_pool, dense<5>>;

// Train and eval forward, backward and the fused inference of one net on both backends.
template <class Net>
void compare_model(index_t n, bool sign_select = false) {
  model<Net, double, host> h(7);
  model<Net, double, as_device> d(7);
  h.set_sign_select(sign_select);
  d.set_sign_select(sign_select);
  const counter_rng rng{31, 31};
  for (index_t i = 0; i < h.n_params; ++i) h.params[i] = d.params[i] = h.params[i] + 0.1 * rng.normal(std::uint64_t(i));
  for (index_t i = 0; i < h.n_state; ++i)
    h.state[i] = d.state[i] = 0.5 + std::abs(rng.normal(std::uint64_t(1000000 + i)));
  std::vector<double> x(std::size_t(n * Net::in.size()));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(2000000 + i);
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) labels[std::size_t(i)] = std::int32_t(i % h.classes);
  for (const mode m : {mode::train, mode::eval}) {
    const double* zh = h.forward(x.data(), n, m);
    const double* zd = d.forward(x.data(), n, m);
    BOOST_TEST(max_rel(std::vector<double>(zd, zd + n * h.classes), std::vector<double>(zh, zh + n * h.classes)) < 1e-12);
    softmax_cross_entropy<double, host> ch;
    softmax_cross_entropy<double, as_device> cd;
    ch(zh, labels.data(), h.classes, n, true);
    cd(zd, labels.data(), h.classes, n, true);
    h.backward(backend::raw(ch.grad));
    d.backward(backend::raw(cd.grad));
    BOOST_TEST(max_rel(d.grads, h.grads) < 1e-11);
    BOOST_TEST(max_rel(d.state, h.state) < 1e-12);
  }
  const double* ih = h.infer(x.data(), n);
  for (int v = 0; v < detail::winograd::n_fused_variants; ++v) {
    d.set_fused_variant(v);
    const double* id = d.infer(x.data(), n);
    BOOST_TEST(max_rel(std::vector<double>(id, id + n * h.classes), std::vector<double>(ih, ih + n * h.classes)) < 1e-12,
               "fused variant " << v);
  }
  BOOST_CHECK_THROW(d.set_fused_variant(-1), basin::error);
  BOOST_CHECK_THROW(d.set_fused_variant(detail::winograd::n_fused_variants), basin::error);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(device_paths)

BOOST_AUTO_TEST_CASE(batched_gemm_equals_one_gemm_per_matrix) {
  const index_t m = 5, n = 7, k = 3, batch = 4, sa = m * k + 2, sb = k * n + 3, sc = m * n + 1;
  std::vector<double> a(std::size_t(sa * batch)), b(std::size_t(sb * batch)), c(std::size_t(sc * batch), 1.0);
  const counter_rng rng{3, 3};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = rng.normal(i);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = rng.normal(1000 + i);
  for (const auto tb : {backend::trans::no, backend::trans::yes}) {
    auto got = c;
    // op(B) (k, n): stored (k, n) with ld n, or (n, k) with ld k.
    const index_t ldb = tb == backend::trans::no ? n : k;
    host::gemm_batched(backend::trans::no, tb, m, n, k, 2.0, a.data(), k, sa, b.data(), ldb, sb, 0.5, got.data(), n, sc,
                       batch);
    double worst = 0;
    for (index_t q = 0; q < batch; ++q)
      for (index_t i = 0; i < m; ++i)
        for (index_t j = 0; j < n; ++j) {
          double acc = 0;
          for (index_t l = 0; l < k; ++l)
            acc += a[std::size_t(q * sa + i * k + l)] *
                   b[std::size_t(q * sb + (tb == backend::trans::no ? l * n + j : j * k + l))];
          const double expect = 2.0 * acc + 0.5 * c[std::size_t(q * sc + i * n + j)];
          worst = test::worse(worst, std::abs(got[std::size_t(q * sc + i * n + j)] - expect));
        }
    BOOST_TEST(worst < 1e-13);
    BOOST_TEST(got[std::size_t(sc - 1)] == 1.0);  // the gap between matrices is left alone
  }
}

BOOST_AUTO_TEST_CASE(fused_winograd_equals_host) {
  namespace wg = detail::winograd;
  using rows = std::tuple_element_t<4, wg::fused_variants>;
  static_assert(wg::fused_fn<double, dims{8, 32, 32}, dims{16, 32, 32}, rows>::by_rows &&
                wg::fused_fn<double, dims{16, 16, 16}, dims{32, 16, 16}, rows>::by_rows &&
                wg::fused_fn<double, dims{8, 6, 16}, dims{16, 6, 16}, rows>::by_rows &&
                !wg::fused_fn<double, dims{16, 9, 13}, dims{16, 9, 13}, rows>::by_rows &&
                !wg::fused_fn<double, dims{8, 28, 28}, dims{32, 28, 28}, rows>::by_rows);
  compare_fused<16, dims{16, 9, 13}>(3);        // 36 tiles: a full block and a partial one; cropped tiles
  compare_fused<32, dims{8, 28, 28}>(2);        // two output-channel blocks; blocks end inside images
  compare_fused<16, dims{24, 6, 5}, true>(11);  // three channel chunks, a bias, many images per block
  compare_fused<64, dims{16, 8, 8}>(9);         // two blocks of 32 filters; a partial last block of tiles
  // Shapes whose blocks are whole tile rows or images (staged by rows in variants 4 and 5): 8
  // images a block, then 4 tile rows of an image (rows above and below from the image), 2
  // images with a partial last block, 4 images whose last tile row is cropped.
  compare_fused<16, dims{8, 32, 32}>(2);
  compare_fused<32, dims{16, 16, 16}>(3);
  compare_fused<16, dims{8, 6, 16}>(5);
}

BOOST_AUTO_TEST_CASE(fused_winograd_falls_back_without_the_shared_memory) {
  constexpr dims In{16, 9, 13};
  using H = conv<16, 3>::bind<In, double, host>;
  using D = conv<16, 3>::bind<In, double, as_small_device>;
  static_assert(D::fused_shape);
  conv_case<H, D> cc(2, 43);
  BOOST_TEST(cc.d.wv.empty());
  std::vector<double> yd(cc.res.size());
  cc.run(cc.d, yd.data(), true);
  BOOST_TEST(!cc.d.wv.empty());  // the separate kernels' workspace: they ran
  BOOST_TEST(max_rel(yd, cc.host(true)) < 1e-12);
}

BOOST_AUTO_TEST_CASE(fused_input_gradient_equals_host) {
  compare_fused_backward<32, dims{16, 9, 13}>(3);  // cropped tiles, a partial block
  compare_fused_backward<16, dims{32, 8, 8}>(9);   // transposed: 2 chunks of 8 channels, 2 blocks of 16 filters
}

BOOST_AUTO_TEST_CASE(direct_kernel_equals_host) {
  compare_direct<32, 3, 2, 1, dims{16, 16, 16}>(3);       // a stride-2 conv: one image a block, 4-pixel vectors
  compare_direct<64, 3, 2, 1, dims{32, 14, 14}>(2);       // 7x7 outputs (blocks across images), two filter blocks
  compare_direct<16, 3, 2, 1, dims{8, 9, 11}, true>(4);   // 5x6 outputs, a bias, a partial last block
  compare_direct<32, 1, 2, 0, dims{16, 8, 8}>(5);         // a 1x1 stride-2 projection, four images a block
  compare_direct<16, 5, 1, 2, dims{8, 7, 7}>(3);          // 5x5, stride 1
  compare_direct<16, 3, 1, 0, dims{16, 10, 10}, true>(2);  // 3x3 unpadded: not Winograd's shape
}

BOOST_AUTO_TEST_CASE(direct_kernel_falls_back_without_the_shared_memory) {
  constexpr dims In{16, 16, 16};
  using C = conv<32, 3, 2, 1>;
  using H = C::bind<In, double, host>;
  using D = C::bind<In, double, as_small_device>;
  static_assert(D::direct_kernel_shape &&
                detail::direct_conv_fn<double, In, D::out, 3, 2, 1>::shared_bytes > (std::size_t(64) << 10));
  conv_case<H, D> cc(2, 45);
  std::vector<double> yd(cc.res.size());
  const long before = as_device::blocks_run;
  cc.run(cc.d, yd.data(), true);
  BOOST_TEST(as_device::blocks_run == before);  // im2col + GEMM instead
  BOOST_TEST(max_rel(yd, cc.host(true)) < 1e-12);
}

BOOST_AUTO_TEST_CASE(device_kernels_equal_host_kernels) {
  compare_model<mixed_net>(5);
  compare_model<resnet20<fashion_input>>(3);
  // Quantized weights: packing, unpacking and sign selection as a device runs them (resnet8:
  // resnet20's layer kinds, a block of stride 1 and two of stride 2 with projections; 3 of
  // resnet20's 5 block types to compile).
  compare_model<resnet<8, fashion_input, 1, 10, weights::integer<4>>>(2);
  compare_model<resnet<8, fashion_input, 1, 10, weights::binary>>(2, true);
}

BOOST_AUTO_TEST_CASE(device_sweep_path_equals_host) {
  // evaluate_points (staged first layer, folded batch norm, Winograd by batched GEMM, element
  // kernels) on both backends, float, 35 images in batches of 25 (a full and a partial one).
  using net = resnet20<fashion_input>;
  model<net, float, host> h(9);
  model<net, float, as_device> d(9);
  const index_t n = 35;
  const dataset data = test::random_dataset(net::in, n, 12);
  auto hx = random_direction(h, 2, 0, {}), hy = random_direction(h, 2, 1, {});
  auto dx = random_direction(d, 2, 0, {}), dy = random_direction(d, 2, 1, {});
  const auto hp = h.params, hs = h.state;
  const auto dp = d.params, ds = d.state;
  const std::vector<std::array<double, 2>> pts{{-0.5, 0.25}, {0.3, -0.2}};
  loss_accuracy eh{nullptr, &data, 25}, ed{nullptr, &data, 25};
  ed.tune_kernels = false;  // tuning: fused_variants_tuned
  const auto rh = eh.evaluate_points(h, hp, hs, hx, &hy, pts, {});
  const auto rd = ed.evaluate_points(d, dp, ds, dx, &dy, pts, {});
  for (std::size_t q = 0; q < pts.size(); ++q) {
    BOOST_TEST(std::abs(rd[q][0] - rh[q][0]) < 1e-5 * std::abs(rh[q][0]));
    BOOST_TEST(std::abs(rd[q][1] - rh[q][1]) <= 100.0 / double(n));  // at most one near-tie
  }
}

// A NaN weight (as at a far-out landscape point, where inf - inf appears inside the net) reaches
// every logit, as in PyTorch, whose relu, max pool and residual sum propagate NaN: each relu
// site (the relu layer, conv epilogues, the Winograd and direct kernels, the residual sum) must
// pass it on. A relu that mapped NaN to 0 would give finite logits here.
template <class Net, class B>
void expect_nan_logits(index_t n, index_t weight) {
  model<Net, double, B> m(5);
  std::vector<double> x(std::size_t(n * Net::in.size()));
  const counter_rng rng{51, 51};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(i);
  const auto logits = [&](const double* z) { return std::vector<double>(z, z + n * m.classes); };
  const auto all_nan = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double z) { return std::isnan(z); });
  };
  const auto finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double z) { return std::isfinite(z); });
  };
  BOOST_TEST_REQUIRE(finite(logits(m.infer(x.data(), n))));  // without the NaN
  m.params[std::size_t(weight)] = std::numeric_limits<double>::quiet_NaN();
  BOOST_TEST(all_nan(logits(m.forward(x.data(), n, mode::eval))), B::name << ": eval forward");
  BOOST_TEST(all_nan(logits(m.infer(x.data(), n))), B::name << ": inference path");
  m.set_fused_winograd(false);
  m.set_direct_kernels(false);
  BOOST_TEST(all_nan(logits(m.infer(x.data(), n))), B::name << ": separate kernels");
  m.set_winograd(false);
  BOOST_TEST(all_nan(logits(m.infer(x.data(), n))), B::name << ": im2col");
  BOOST_TEST(all_nan(logits(m.forward(x.data(), n, mode::train))), B::name << ": train forward");
}

BOOST_AUTO_TEST_CASE(nan_reaches_the_logits_as_in_pytorch) {
  // mixed_net's second conv (in the plain residual), filter 0; resnet20's layer1.0.conv1.
  const index_t mixed = model<mixed_net, double, host>::param_table[3].offset;
  const index_t res = model<resnet20<fashion_input>, double, host>::param_table[3].offset;
  expect_nan_logits<mixed_net, host>(3, mixed);
  expect_nan_logits<mixed_net, as_device>(3, mixed);
  expect_nan_logits<resnet20<fashion_input>, host>(2, res);
  expect_nan_logits<resnet20<fashion_input>, as_device>(2, res);
  // The sweep path (staged first layer, folded batch norm) records the point's loss as NaN.
  using net = resnet20<fashion_input>;
  const dataset data = test::random_dataset(net::in, 20, 13);
  const auto sweep_loss = [&](auto& m) {
    auto dx = random_direction(m, 2, 0, {});
    auto p = m.params;
    const auto s = m.state;
    p[std::size_t(res)] = std::numeric_limits<float>::quiet_NaN();
    loss_accuracy e{nullptr, &data, 20};
    e.tune_kernels = false;
    return e.evaluate_points(m, p, s, dx, nullptr, std::vector<std::array<double, 2>>{{0.0, 0.0}}, {})[0];
  };
  model<net, float, host> h(9);
  model<net, float, as_device> d(9);
  for (const auto& r : {sweep_loss(h), sweep_loss(d)}) {
    BOOST_TEST(std::isnan(r[0]));
    BOOST_TEST(r[1] == 0.0);  // every image counted wrong
  }
}

// Two convs that run the one kernel: 8 -> 16 filters (too few for the variant with 32 filters a
// block) and 16 -> 32 (every variant).
using tune_net = network<input<8, 8, 8>, conv<16, 3>, batch_norm, relu, conv<32, 3>, batch_norm, relu, global_avg_pool,
                         dense<4>>;

BOOST_AUTO_TEST_CASE(fused_variants_tuned) {
  namespace wg = detail::winograd;
  model<tune_net, double, host> h(3);
  model<tune_net, double, as_device> d(3);
  const index_t n = 3;
  std::vector<double> x(std::size_t(n * tune_net::in.size()));
  const counter_rng rng{44, 44};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(i);
  for (const auto& c : d.fused_choices()) BOOST_TEST(c.ms.empty());
  d.tune_fused_variants();
  const double* zd = d.infer(x.data(), n);
  const std::vector<double> tuned(zd, zd + n * d.classes);
  const double* zh = h.infer(x.data(), n);
  BOOST_TEST(max_rel(tuned, std::vector<double>(zh, zh + n * h.classes)) < 1e-12);
  const auto choices = d.fused_choices();
  BOOST_TEST_REQUIRE(choices.size() == 2u);
  for (const auto& c : choices) {
    BOOST_TEST_REQUIRE(c.ms.size() == std::size_t(wg::n_fused_variants));
    const bool few = c.out.c % std::tuple_element_t<3, wg::fused_variants>::outs != 0;
    if (few) BOOST_TEST(c.variant != 3);
    for (int v = 0; v < wg::n_fused_variants; ++v) {
      BOOST_TEST((c.ms[std::size_t(v)] < 0) == (few && v == 3), "variant " << v << " of the conv to " << c.out.c);
      if (c.ms[std::size_t(v)] >= 0) BOOST_TEST(c.ms[std::size_t(c.variant)] <= c.ms[std::size_t(v)]);
    }
  }
  d.for_each_layer([](auto& l) {
    if constexpr (requires { l.tune_fused; }) BOOST_TEST(!l.tune_fused);  // tuned once
  });
  // The chosen variants stay: the same logits, bit for bit.
  const double* again = d.infer(x.data(), n);
  BOOST_TEST(std::equal(tuned.begin(), tuned.end(), again));
  // A sweep tunes at its first pass unless told not to.
  model<tune_net, double, as_device> s(3);
  const dataset data = test::random_dataset(tune_net::in, 4, 13, 4);
  auto sx = random_direction(s, 2, 0, {});
  const auto sp = s.params, ss = s.state;
  const std::vector<std::array<double, 2>> at{{0.5, 0.0}};
  loss_accuracy fixed{nullptr, &data, 4};
  fixed.tune_kernels = false;
  fixed.evaluate_points(s, sp, ss, sx, nullptr, at, {});
  for (const auto& c : s.fused_choices()) BOOST_TEST(c.ms.empty());
  loss_accuracy tuning{nullptr, &data, 4};
  tuning.evaluate_points(s, sp, ss, sx, nullptr, at, {});
  for (const auto& c : s.fused_choices()) BOOST_TEST(c.ms.size() == std::size_t(wg::n_fused_variants));
}

BOOST_AUTO_TEST_SUITE_END()
