// bench/gpu/bench_gpu.cpp — basin on a GPU: resnet20/56 training steps and 2-D sweep throughput
// on CIFAR-shaped inputs, with cuBLAS SGEMM measured in the same run for scale.
// Validates first: GPU logits and sweep-path losses against the host backend on the same
// weights (1e-4 relative).
// Prints one line per measurement and a table last. Compiled by nvcc (bench_gpu.cu).
#include <chrono>
#include <cstdio>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "basin/backend/cuda.hpp"
#include "basin/backend/host.hpp"
#include "basin/landscape/directions.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "../zoo_flops.hpp"

using namespace basin;
using gpu = backend::cuda;
using clk = std::chrono::steady_clock;

namespace {
double seconds_since(clk::time_point t0) { return std::chrono::duration<double>(clk::now() - t0).count(); }

template <class F>
double time_it(F&& f, int warmup, double min_seconds) {
  for (int i = 0; i < warmup; ++i) f();
  gpu::synchronize();
  int reps = 0;
  const auto t0 = clk::now();
  do {
    f();
    ++reps;
    gpu::synchronize();
  } while (seconds_since(t0) < min_seconds);
  return seconds_since(t0) / reps;
}

double sgemm_gflops(int n) {
  gpu::vector<float> a(std::size_t(n) * n, 1.0f), b(std::size_t(n) * n, 0.5f), c(std::size_t(n) * n);
  const double t = time_it([&] {
    gpu::gemm(backend::trans::no, backend::trans::no, n, n, n, 1.0f, backend::raw(a), n, backend::raw(b), n, 0.0f,
              backend::raw(c), n);
  }, 2, 1.0);
  return 2.0 * n * n * n / t * 1e-9;
}

struct row {
  std::string what;
  double value;
  std::string unit;
};

template <class Net>
bool validate() {
  model<Net, float, backend::host> h(3);
  model<Net, float, gpu> g(3);
  const index_t n = 8;
  std::vector<float> x(std::size_t(n * Net::in.size()));
  const counter_rng rng{4, 4};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(rng.normal(i));
  gpu::vector<float> xd(x.begin(), x.end());
  const float* zh = h.forward(x.data(), n, mode::eval);
  const float* zg = g.forward(backend::raw(xd), n, mode::eval);
  std::vector<float> hg(std::size_t(n * 10));
  gpu::download(zg, n * 10, hg.data());
  double d = 0, s = 0;
  for (std::size_t i = 0; i < hg.size(); ++i) d = std::max(d, double(std::abs(hg[i] - zh[i]))), s = std::max(s, double(std::abs(zh[i])));
  std::printf("validate %s: GPU vs host logits max rel %.2e %s\n", Net::name().c_str(), d / s, d <= 1e-4 * s ? "ok" : "MISMATCH");
  return d <= 1e-4 * s;
}

template <class Net>
void bench_net(std::vector<row>& rows, index_t batch) {
  model<Net, float, gpu> m(1);
  const counter_rng rng{5, 5};
  std::vector<float> x(std::size_t(batch * Net::in.size()));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(rng.normal(i));
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int32_t(i % 10);
  gpu::vector<float> xd(x.begin(), x.end());
  gpu::vector<std::int32_t> ld(labels.begin(), labels.end());
  softmax_cross_entropy<float, gpu> ce;
  optim::optimizer<optim::sgd, float, gpu> opt({0.9, 5e-4, true}, m.n_params);
  const double step = time_it([&] {
    const float* z = m.forward(backend::raw(xd), batch, mode::train);
    ce(z, backend::raw(ld), 10, batch, true);
    m.backward(backend::raw(ce.grad));
    opt.step(backend::raw(m.params), backend::raw(m.grads), 0.01);
  }, 3, 2.0);
  rows.push_back({Net::name() + " train step, batch " + std::to_string(batch), batch / step, "images/s"});
  std::printf("%s: train step %.2f ms (%.0f images/s)\n", Net::name().c_str(), step * 1e3, batch / step);
}

// Random CIFAR-shaped images and labels on the host, as a dataset.
template <class Net>
dataset random_images(index_t n, std::uint64_t seed) {
  dataset d;
  d.shape = Net::in;
  const counter_rng rng{seed, seed};
  d.images.resize(std::size_t(n * Net::in.size()));
  d.labels.resize(std::size_t(n));
  for (std::size_t i = 0; i < d.images.size(); ++i) d.images[i] = float(rng.normal(i));
  for (index_t i = 0; i < n; ++i) d.labels[std::size_t(i)] = std::int32_t(rng.below(std::uint64_t(i), 10));
  return d;
}

// The ways a sweep can run the 3x3 convs: the one-kernel Winograd with each register block
// (detail::winograd::fused_variants), with the fastest of them per conv (tuned: what sweeps do
// by default), Winograd in separate kernels, im2col + GEMM; the strided convs (stride-2 3x3 and
// 1x1 projections) by the direct kernel, except in the last way (tuned, strided by im2col).
constexpr int variants = detail::winograd::n_fused_variants, tuned = variants, separate = variants + 1,
              im2col = variants + 2, strided_im2col = variants + 3, ways = variants + 4;
std::string way_name(int way) {
  if (way < variants) return "Winograd, one kernel, variant " + std::to_string(way);
  if (way == tuned) return "Winograd, one kernel, tuned per conv";
  if (way == strided_im2col) return "strided convs by im2col + GEMM, 3x3 by the one kernel tuned";
  return way == separate ? "Winograd, separate kernels" : "im2col + GEMM";
}
template <class M>
void set_way(M& m, int way) {
  m.set_winograd(way != im2col);
  m.set_fused_winograd(way < separate || way == strided_im2col);
  m.set_fused_variant(way < variants ? way : 0);
  m.set_direct_kernels(way != strided_im2col && way != im2col);
  if (way == tuned || way == strided_im2col) m.tune_fused_variants();  // at the next pass
}
// The tuned variants of a model's convs, a line per conv shape: how many convs chose each
// variant, and each variant's mean time per call.
template <class M>
void print_choices(M& m) {
  const auto all = m.fused_choices();
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& c = all[i];
    bool seen = false;
    for (std::size_t j = 0; j < i; ++j) seen = seen || (all[j].in == c.in && all[j].out == c.out);
    if (seen || c.ms.empty()) continue;
    std::vector<int> chose(std::size_t(variants), 0);
    std::vector<double> sum(std::size_t(variants), 0.0);
    int convs = 0;
    for (const auto& o : all)
      if (o.in == c.in && o.out == c.out && o.ms.size() == std::size_t(variants)) {
        ++convs, ++chose[std::size_t(o.variant)];
        for (int v = 0; v < variants; ++v) sum[std::size_t(v)] += o.ms[std::size_t(v)];
      }
    std::printf("  tuned conv %dx%dx%d -> %d (%d convs):", c.in.c, c.in.h, c.in.w, c.out.c, convs);
    for (int v = 0; v < variants; ++v)
      if (sum[std::size_t(v)] >= 0)
        std::printf(" v%d %.3f ms x%d;", v, sum[std::size_t(v)] / convs, chose[std::size_t(v)]);
    std::printf("\n");
  }
}

// Grid points per second over `images` images per point, batches of `batch`: the sweep path
// (loss_accuracy::evaluate_points: blocks of points per pass over the data, first layer staged,
// batch norm folded into the convs) with Winograd and with im2col + GEMM for the 3x3 convs, and
// the point-by-point loop (set the point, forward in eval mode) as PyTorch's peer does it.
// Validated first: the GPU sweep path's losses against the host's on 200 of the images.
template <class Net>
bool bench_sweep(std::vector<row>& rows, index_t images, index_t batch, index_t per_pass, bool full = true) {
  model<Net, float, gpu> m(1);
  const dataset data = random_images<Net>(images, 6);
  auto d1 = random_direction(m, 1, 0, {}), d2 = random_direction(m, 1, 1, {});
  const auto p0 = m.params, s0 = m.state;
  std::vector<std::array<double, 2>> pts(static_cast<std::size_t>(per_pass));
  double a = -1;
  const auto next_block = [&] {
    for (auto& p : pts) p = {a, 0.5}, a += 0.01;
  };
  if (full) {  // validation
    const dataset probe = subset(data, 0, 200);
    model<Net, float, backend::host> h(1);
    auto h1 = random_direction(h, 1, 0, {}), h2 = random_direction(h, 1, 1, {});
    const auto hp = h.params, hs = h.state;
    const std::vector<std::array<double, 2>> vp{{-0.4, 0.3}, {0.2, -0.1}};
    loss_accuracy eh{nullptr, &probe, 100}, eg{nullptr, &probe, 100};
    eg.tune_kernels = false;  // set_way tunes
    const auto rh = eh.evaluate_points(h, hp, hs, h1, &h2, vp, {});
    double worst = 0;
    for (int way = 0; way < ways; ++way) {
      set_way(m, way);
      const auto rg = eg.evaluate_points(m, p0, s0, d1, &d2, vp, {});
      for (std::size_t q = 0; q < vp.size(); ++q) {
        const double e = std::abs(rg[q][0] - rh[q][0]) / std::abs(rh[q][0]);
        worst = std::max(worst, e);
        if (!(e <= 1e-4)) std::printf("  way %d point %zu: GPU %.7g host %.7g\n", way, q, rg[q][0], rh[q][0]);
      }
    }
    std::printf("validate %s sweep path: GPU vs host losses max rel %.2e %s\n", Net::name().c_str(), worst,
                worst <= 1e-4 ? "ok" : "MISMATCH");
    if (!(worst <= 1e-4)) return false;
  }
  const double gflop = bench::forward_flops<Net>() * double(images) * 1e-9;  // per point, as direct convolution
  loss_accuracy ev{nullptr, &data, batch};
  ev.tune_kernels = false;  // set_way tunes
  double best = 0, default_rate = 0;
  int best_way = 0;
  for (int way = 0; way < ways; ++way) {
    set_way(m, way);
    const double t = time_it([&] {
      next_block();
      ev.evaluate_points(m, p0, s0, d1, &d2, pts, {});
    }, 1, full ? 2.0 : 1.0) / double(per_pass);
    if (way == tuned) default_rate = 1.0 / t;
    if (1.0 / t > best) best = 1.0 / t, best_way = way;
    std::printf("%s: sweep path (%s, batch %ld, %ld points per pass) %.2f ms per point (%.2f points/s, %.0f GFLOP/s as direct conv)\n",
                Net::name().c_str(), way_name(way).c_str(), long(batch), long(per_pass), t * 1e3, 1.0 / t, gflop / t);
    if (way == tuned) print_choices(m);
  }
  set_way(m, best_way);
  if (!full) return true;
  gpu::vector<float> xd(data.images.begin(), data.images.end());
  gpu::vector<std::int32_t> ld(data.labels.begin(), data.labels.end());
  softmax_cross_entropy<float, gpu> ce;
  const double point = time_it([&] {
    set_point(m, p0, s0, d1, a, &d2, 0.5);
    a += 0.01;
    for (index_t b0 = 0; b0 < images; b0 += batch) {
      const index_t nb = std::min(batch, images - b0);
      const float* z = m.forward(backend::raw(xd) + b0 * Net::in.size(), nb, mode::eval);
      ce(z, backend::raw(ld) + b0, 10, nb, false);
    }
  }, 2, 2.0);
  std::printf("%s: point by point %.2f ms (%.2f points/s)\n", Net::name().c_str(), point * 1e3, 1.0 / point);
  std::printf("%s: sweep point %.2f ms (%.2f points/s, %.0f GFLOP/s as direct conv; %s)\n", Net::name().c_str(),
              1e3 / best, best, gflop * best, way_name(best_way).c_str());
  rows.push_back({Net::name() + " sweep, " + std::to_string(images) + " images/point", best, "points/s"});
  rows.push_back({Net::name() + " sweep, default way (tuned per conv)", default_rate, "points/s"});
  rows.push_back({Net::name() + " sweep, as direct convolution", gflop * best, "GFLOP/s"});
  rows.push_back({Net::name() + " point by point (forward per point)", 1.0 / point, "points/s"});
  return true;
}

// The one-kernel Winograd of a C -> C conv alone with register block V (fused_config), where it
// suits C filters: " variant V (KxT at P positions, F filters a block, N threads, B/SM) t ms
// (GFLOP/s);" ("bench-only V" past the model's variants).
template <dims In, class Cfg>
std::string time_variant(int v, const float* u, const float* x, float* y, index_t n, double direct) {
  namespace wg = detail::winograd;
  if constexpr (In.c % Cfg::outs != 0) {
    return "";
  } else {
    using F = wg::fused_fn<float, In, In, Cfg>;
    const F f{u, x, y, n, nullptr, nullptr, nullptr, false, nullptr, true};
    const double t = time_it([&] { gpu::for_each_block(f.blocks(), f); }, 2, 0.3);
    char line[200];
    std::snprintf(line, sizeof line, " %s %d (%dx%d at %d positions, %d filters a block, %d threads, %d/SM) %.3f ms "
                  "(%.0f GFLOP/s);", v < wg::n_fused_variants ? "variant" : "bench-only", v, Cfg::kper, Cfg::tper,
                  F::per_group, Cfg::outs, F::threads, Cfg::min_blocks, t * 1e3, direct / t);
    return line;
  }
}
// The model's variants, then two timed here only: 4x4 and 8x8 with one block per multiprocessor.
// A block of 9 warps, two per multiprocessor, leaves a thread 96 registers (5 warps on one of
// the 4 schedulers' register files); one such block leaves it 168 (no spills), at a quarter of
// the warps of the default.
using timed_variants = decltype(std::tuple_cat(std::declval<detail::winograd::fused_variants>(),
                                               std::declval<std::tuple<detail::winograd::fused_config<16, 4, 4, 9, 1>,
                                                                       detail::winograd::fused_config<16, 8, 8, 36, 1>>>()));
template <dims In, std::size_t... V>
std::string time_variants(std::index_sequence<V...>, const float* u, const float* x, float* y, index_t n,
                          double direct) {
  return (std::string() + ... + time_variant<In, std::tuple_element_t<V, timed_variants>>(int(V), u, x, y, n, direct));
}

// Where one 3x3 conv's time goes on this GPU (batch n, the CIFAR resnets' stage shapes): the
// whole layer by Winograd and by im2col + GEMM, and Winograd's four kernels one by one, with the
// bytes each moves per second; and the device's copy bandwidth, for scale.
template <int C, int H>
void breakdown(index_t n) {
  namespace wg = detail::winograd;
  constexpr dims In{C, H, H};
  using layer = typename conv<C, 3>::template bind<In, float, gpu>;
  layer c;
  c.reserve(n);
  gpu::vector<float> w(std::size_t(C) * C * 9, 0.01f), x(std::size_t(n * In.size()), 1.0f), y(x.size());
  const auto run = [&] { c.forward_affine(backend::raw(w), backend::raw(x), backend::raw(y), n, nullptr, nullptr, false); };
  const double t_w = time_it(run, 2, 0.3);
  // The one-kernel Winograd alone (transformed filters ready), with each register block that
  // suits C filters.
  const float* pw0 = backend::raw(w);
  float *px0 = backend::raw(x), *py0 = backend::raw(y), *pu0 = backend::raw(c.wu);
  gpu::for_each_index(index_t(C) * C, wg::filter_fn<float>{pw0, pu0, C, C, true});
  const double direct = 2.0 * 9 * C * double(n * In.size()) * 1e-9;  // GFLOP as direct convolution
  const std::string alone =
      time_variants<In>(std::make_index_sequence<std::tuple_size_v<timed_variants>>{}, pu0, px0, py0, n, direct);
  const double t_filter =
      time_it([&] { gpu::for_each_index(index_t(C) * C, wg::filter_fn<float>{pw0, pu0, C, C, true}); }, 2, 0.2);
  c.use_fused = false;
  const double t_s = time_it(run, 2, 0.3);
  c.use_winograd = false;
  const double t_i = time_it(run, 2, 0.3);
  const index_t tiles = n * wg::input_fn<float, In>::per_image, blk = (tiles + 15) / 16 * 16;
  gpu::vector<float> u(std::size_t(36) * C * C), v(std::size_t(36) * (C * blk + wg::plane_pad)),
      mm(std::size_t(36) * (C * blk + wg::plane_pad));
  float *pu = backend::raw(u), *pv = backend::raw(v), *pm = backend::raw(mm), *px = backend::raw(x), *py = backend::raw(y);
  const float* pw = backend::raw(w);
  const double t_f = time_it([&] { gpu::for_each_index(C * C, wg::filter_fn<float>{pw, pu, C, C}); }, 2, 0.2);
  const double t_in = time_it([&] { gpu::for_each_index(C * blk, wg::input_fn<float, In>{px, pv, n, 0, tiles, blk}); }, 2, 0.3);
  const double t_g = time_it([&] {
    gpu::gemm_batched(backend::trans::no, backend::trans::no, C, blk, C, 1.0f, pu, C, index_t(C) * C, pv, blk,
                      C * blk + wg::plane_pad, 0.0f, pm, blk, C * blk + wg::plane_pad, index_t(wg::positions));
  }, 2, 0.3);
  const double t_out = time_it([&] {
    gpu::for_each_index(C * tiles, wg::output_fn<float, In>{pm, py, n, 0, tiles, blk, nullptr, nullptr, nullptr, false});
  }, 2, 0.3);
  const double xb = 4.0 * double(n * In.size()), vb = 4.0 * 36 * double(C * blk);
  std::printf("conv %dx%dx%d, batch %ld: one kernel alone:%s filter transform (in, out) %.3f ms\n", C, H, H, long(n),
              alone.c_str(), t_filter * 1e3);
  std::printf("conv %dx%dx%d, batch %ld: Winograd one kernel %.3f ms (%.0f GFLOP/s as direct conv), separate kernels "
              "%.3f ms, im2col+GEMM %.3f ms | filter %.3f, input %.3f ms (%.0f GB/s), "
              "batched GEMM %.3f ms (%.0f GB/s), output %.3f ms (%.0f GB/s)\n",
              C, H, H, long(n), t_w * 1e3, direct / t_w, t_s * 1e3, t_i * 1e3, t_f * 1e3, t_in * 1e3,
              (xb + vb) / t_in * 1e-9, t_g * 1e3,
              2 * vb / t_g * 1e-9, t_out * 1e3, (xb + vb) / t_out * 1e-9);
}

// A stage's first conv (C -> 2C filters, stride 2, the CIFAR resnets' second and third stages)
// and its 1x1 projection, batch n, each with a folded batch norm (and relu) in the epilogue: the
// direct kernel (layers/direct_conv.hpp) against im2col + GEMM + epilogue.
template <int C, int H>
void strided(index_t n) {
  constexpr dims In{C, H, H};
  using conv3 = typename conv<2 * C, 3, 2, 1>::template bind<In, float, gpu>;
  using conv1 = typename conv<2 * C, 1, 2, 0>::template bind<In, float, gpu>;
  conv3 a;
  conv1 b;
  a.reserve(n);
  b.reserve(n);
  gpu::vector<float> w(std::size_t(2 * C) * C * 9, 0.01f), x(std::size_t(n * In.size()), 1.0f),
      y(std::size_t(n * conv3::out.size())), scale(std::size_t(2 * C), 0.5f), shift(std::size_t(2 * C), 0.1f);
  const auto run = [&](auto& c) {
    return time_it([&] {
      c.forward_affine(backend::raw(w), backend::raw(x), backend::raw(y), n, backend::raw(scale), backend::raw(shift),
                       true);
    }, 2, 0.3);
  };
  const double t3 = run(a), t1 = run(b);
  a.use_direct_kernel = b.use_direct_kernel = false;
  const double i3 = run(a), i1 = run(b);
  const double f3 = 2.0 * 9 * C * double(n * conv3::out.size()) * 1e-9, f1 = f3 / 9;
  std::printf("strided conv %dx%dx%d -> %d, stride 2, batch %ld: 3x3 direct kernel %.3f ms (%.0f GFLOP/s), im2col + "
              "GEMM + epilogue %.3f ms (%.2fx); 1x1 projection direct %.3f ms, im2col + GEMM + epilogue %.3f ms "
              "(%.2fx)\n",
              C, H, H, 2 * C, long(n), t3 * 1e3, f3 / t3, i3 * 1e3, i3 / t3, t1 * 1e3, i1 * 1e3, i1 / t1);
}

double copy_bandwidth() {
  const index_t n = index_t(1) << 26;
  gpu::vector<float> a(static_cast<std::size_t>(n), 1.0f), b(static_cast<std::size_t>(n));
  const double t = time_it([&] { gpu::copy(n, backend::raw(a), backend::raw(b)); }, 2, 0.3);
  return 8.0 * double(n) / t * 1e-9;
}
}  // namespace

// One sweep pass of resnet56 (one point, 2000 images in one batch), for a profiler:
// `ncu --metrics gpu__time_duration.sum --print-summary per-kernel bench_gpu --profile`.
void profile_pass() {
  using net = resnet56<cifar_input>;
  model<net, float, gpu> m(1);
  const dataset data = random_images<net>(2000, 6);
  auto d1 = random_direction(m, 1, 0, {}), d2 = random_direction(m, 1, 1, {});
  const auto p0 = m.params, s0 = m.state;
  loss_accuracy ev{nullptr, &data, 2000};
  const auto r = ev.evaluate_points(m, p0, s0, d1, &d2, {{0.1, 0.2}}, {});
  std::printf("profile pass: loss %.4f\n", r[0][0]);
}

int main(int argc, char** argv) try {
  if (argc > 1 && std::string(argv[1]) == "--profile") return profile_pass(), 0;
  if (!validate<resnet20<cifar_input>>() || !validate<resnet56<cifar_input>>()) return 1;
  std::vector<row> rows;
  const double gf = sgemm_gflops(4096);
  rows.push_back({"cuBLAS SGEMM 4096^3", gf, "GFLOP/s"});
  bench_net<resnet20<cifar_input>>(rows, 128);
  bench_net<resnet56<cifar_input>>(rows, 128);
  if (!bench_sweep<resnet20<cifar_input>>(rows, 2000, 500, 8) || !bench_sweep<resnet56<cifar_input>>(rows, 2000, 500, 8))
    return 1;
  // The whole set in one batch: fewer, larger kernels.
  bench_sweep<resnet20<cifar_input>>(rows, 2000, 2000, 8, false);
  bench_sweep<resnet56<cifar_input>>(rows, 2000, 2000, 8, false);
  std::printf("\ndevice copy bandwidth %.0f GB/s (read + write)\n", copy_bandwidth());
  breakdown<16, 32>(500);
  breakdown<32, 16>(500);
  breakdown<64, 8>(500);
  breakdown<16, 32>(2000);
  breakdown<32, 16>(2000);
  breakdown<64, 8>(2000);
  strided<16, 32>(2000);
  strided<32, 16>(2000);
  std::printf("\n%-48s %14s\n", "basin on the GPU (float32, TF32 off)", "");
  for (const auto& r : rows) std::printf("%-48s %12.1f %s\n", r.what.c_str(), r.value, r.unit.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_gpu: %s\n", e.what());
  return 1;
}
