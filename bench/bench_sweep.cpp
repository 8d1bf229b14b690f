// bench/bench_sweep.cpp — 2-D loss-surface sweeps on the host: grid points per second for
// resnet20 and resnet56 on Fashion-MNIST test images (2000 by default, as the landscape issue's
// target is stated), eval mode, loss and accuracy at every point.
//
//   sweep/<net>/blocked    basin's sweep path: loss_accuracy::evaluate_points on a block of
//                          points per pass over the data (staged first layer, folded batch norm)
//   sweep/<net>/pointwise  the straightforward loop: set the point, evaluate() in eval mode
//   layer/<c>x<h>x<w>/<kind>  one 3x3 conv of each resnet stage as the sweep runs it (batch
//                          500, folded batch norm, the residual sum and relu in its epilogue),
//                          Winograd or im2col + GEMM: where a sweep's time goes, layer by layer
//
// Validates before it times: the blocked float path against a direct double-precision
// evaluation (losses to 1e-4 relative). Also times the machine's GEMM rate (gemm/1024) and
// reports GFLOP/s counted as direct convolution (bench/zoo_flops.hpp). Compare with PyTorch's per-point loop:
// bench/compare_sweep.py --basin-json FILE. Options (before Google Benchmark's): --images N, --batch N[,N...] (images
// per batch, default the library's loss_accuracy::batch_size; with several, each is a benchmark named
// .../batch:N, to be compared with --benchmark_repetitions and
// --benchmark_enable_random_interleaving=true), --stage-first-layer 0|1
// (loss_accuracy::stage_first_layer, default 1), --data DIR (else Debian's
// dataset-fashion-mnist; random images when it is missing, said on stderr).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "basin/data/idx.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/layers/conv.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "zoo_flops.hpp"

using namespace basin;

namespace {
index_t images = 2000;
int stage = 1;  // loss_accuracy::stage_first_layer
std::vector<index_t> batches{loss_accuracy{}.batch_size};
std::string data_dir = "/usr/share/datasets/fashion-mnist";
constexpr int block = 8;  // points per benchmark iteration (and per pass over the data)

const dataset& probe() {
  static const dataset d = [] {
    try {
      auto train = read_fashion_mnist(data_dir, true);
      auto test = read_fashion_mnist(data_dir, false);
      const auto stats = compute_channel_stats(train);
      normalize(test, stats);
      std::fprintf(stderr, "data: %lld Fashion-MNIST test images from %s\n", (long long)images, data_dir.c_str());
      return first_images(test, images);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "data: random images (%s)\n", e.what());
      dataset r;
      r.shape = {1, 28, 28};
      r.images.resize(std::size_t(images * 784));
      r.labels.resize(std::size_t(images));
      const counter_rng rng{3, 3};
      for (std::size_t i = 0; i < r.images.size(); ++i) r.images[i] = float(rng.normal(i));
      for (index_t i = 0; i < images; ++i) r.labels[std::size_t(i)] = std::int32_t(i % 10);
      return r;
    }
  }();
  return d;
}

template <class Net>
struct fixture {
  using M = model<Net, float>;
  M m{1};
  direction<M> dx, dy;
  typename M::template vector<float> origin_p, origin_s;
  loss_accuracy la;
  std::vector<std::array<double, 2>> pts;
  explicit fixture(index_t batch = loss_accuracy{}.batch_size) {
    dx = random_direction(m, 1, 0, {});
    dy = random_direction(m, 1, 1, {});
    origin_p = m.params;
    origin_s = m.state;
    la = loss_accuracy{nullptr, &probe(), batch};
    la.stage_first_layer = stage != 0;
    for (int i = 0; i < block; ++i) pts.push_back({-1.0 + 2.0 * i / (block - 1), 0.25});
  }
  // One point first, outside the timed loop: a sweep allocates its buffers once, at its first
  // block, and then evaluates many blocks.
  void warm_up() {
    const auto keep = pts;
    pts.resize(1);
    blocked();
    set_point(m, origin_p, origin_s, dx, pts[0][0], &dy, pts[0][1]);
    la(m);
    pts = keep;
  }
  std::vector<point_metrics> blocked() { return la.evaluate_points(m, origin_p, origin_s, dx, &dy, pts, {}); }
  std::vector<point_metrics> pointwise() {
    std::vector<point_metrics> v;
    for (const auto& p : pts) {
      set_point(m, origin_p, origin_s, dx, p[0], &dy, p[1]);
      v.push_back(la(m));
    }
    return v;
  }
};

// The blocked float path against a direct double-precision evaluation (im2col + GEMM, no
// Winograd, no folding) of the same weights, directions and images: losses to 1e-4 relative.
template <class Net>
bool validate() {
  fixture<Net> f;
  const auto probe_small = first_images(probe(), 200);
  f.la = loss_accuracy{nullptr, &probe_small, 100};
  f.pts.resize(3);
  const auto a = f.blocked();
  using D = model<Net, double>;
  D ref(1);
  ref.set_winograd(false);
  std::vector<double> p(f.origin_p.begin(), f.origin_p.end()), s(f.origin_s.begin(), f.origin_s.end());
  std::vector<double> dx(f.dx.params.begin(), f.dx.params.end()), dy(f.dy.params.begin(), f.dy.params.end());
  double worst = 0;
  for (std::size_t q = 0; q < f.pts.size(); ++q) {
    for (std::size_t i = 0; i < p.size(); ++i)
      ref.params[i] = p[i] + double(float(f.pts[q][0])) * dx[i] + double(float(f.pts[q][1])) * dy[i];
    for (std::size_t i = 0; i < s.size(); ++i) ref.state[i] = s[i];
    const double loss = evaluate(ref, probe_small, 100).loss;
    worst = std::max(worst, std::fabs(a[q][0] - loss) / std::fabs(loss));
  }
  const bool ok = worst <= 1e-4;
  std::fprintf(stderr, "validate %s: blocked float losses vs direct double evaluation, max rel %.2e %s\n",
               Net::name().c_str(), worst, ok ? "ok" : "MISMATCH");
  return ok;
}

template <class Net, bool Blocked>
void sweep_points(benchmark::State& st, index_t batch) {
  fixture<Net> f(batch);
  f.warm_up();
  for (auto _ : st) benchmark::DoNotOptimize(Blocked ? f.blocked() : f.pointwise());
  st.counters["points_per_second"] = benchmark::Counter(block, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["images_per_second"] =
      benchmark::Counter(double(block) * double(probe().size()), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP_per_second"] = benchmark::Counter(double(block) * double(probe().size()) *
                                                           bench::forward_flops<Net>() * 1e-9,
                                                       benchmark::Counter::kIsIterationInvariantRate);
}

// The machine's GEMM rate as basin's host backend reaches it: one single-threaded 1024^3 SGEMM
// per worker, all workers at once (GFLOP/s of the whole machine).
void gemm_rate(benchmark::State& st) {
  const index_t n = 1024;
  const int workers = backend::host::concurrency();
  std::vector<std::vector<float>> a(std::size_t(workers), std::vector<float>(std::size_t(n * n), 0.5f));
  auto b = a, c = a;
  for (auto _ : st)
    backend::host::for_each_task(workers, [&](index_t t, int) {
      backend::host::gemm(backend::trans::no, backend::trans::no, n, n, n, 1.0f, a[std::size_t(t)].data(), n,
                          b[std::size_t(t)].data(), n, 0.0f, c[std::size_t(t)].data(), n);
    });
  st.counters["GFLOP_per_second"] =
      benchmark::Counter(2.0 * double(n) * n * n * workers * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// One inference-path conv layer (3x3, stride 1, In.c -> In.c, batch 500): forward_affine with a
// per-channel scale and shift, the residual added and relu, as a resnet block's second conv.
// Checks Winograd against im2col + GEMM first (1e-4 of the largest output).
template <dims In, bool Winograd>
void layer(benchmark::State& st) {
  using impl = typename conv<In.c, 3, 1, 1, false>::template bind<In, float, backend::host>;
  const index_t n = 500;
  impl c;
  c.reserve(n);
  const counter_rng rng{7, 7};
  std::vector<float> w(impl::n_params), x(std::size_t(n * In.size())), res(x.size()), y(x.size()), ref(x.size());
  std::vector<float> scale(In.c), shift(In.c);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(rng.normal(i) / 12.0);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = float(rng.normal(1000000 + i)), res[i] = float(rng.normal(9000000 + i));
  for (int i = 0; i < In.c; ++i)
    scale[std::size_t(i)] = 1.0f + 0.1f * float(i % 3), shift[std::size_t(i)] = 0.01f * float(i);
  const auto run = [&](std::vector<float>& out) {
    c.forward_affine(w.data(), x.data(), out.data(), n, scale.data(), shift.data(), true, res.data());
  };
  c.use_winograd = false;
  run(ref);
  c.use_winograd = Winograd;
  run(y);
  double worst = 0, top = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    worst = std::max(worst, double(std::fabs(y[i] - ref[i])));
    top = std::max(top, double(std::fabs(ref[i])));
  }
  if (worst > 1e-4 * top) {
    st.SkipWithError("Winograd and im2col outputs differ by more than 1e-4 of the largest");
    return;
  }
  for (auto _ : st) run(y);
  st.counters["images_per_second"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP_per_second"] = benchmark::Counter(2.0 * 9 * In.c * In.c * double(In.plane()) * double(n) * 1e-9,
                                                       benchmark::Counter::kIsIterationInvariantRate);
}

using r20 = resnet20<fashion_input>;
using r56 = resnet56<fashion_input>;
}  // namespace

BENCHMARK(gemm_rate)->Name("gemm/1024")->UseRealTime()->Unit(benchmark::kMillisecond);

void register_sweeps() {
  const auto add = [](const char* net, const char* kind, auto fn) {
    for (const index_t b : batches) {
      std::string name = std::string("sweep/") + net + "/" + kind;
      if (batches.size() > 1) name += "/batch:" + std::to_string(b);
      benchmark::RegisterBenchmark(name.c_str(), fn, b)->UseRealTime()->Unit(benchmark::kSecond);
    }
  };
  add("resnet20", "blocked", sweep_points<r20, true>);
  add("resnet20", "pointwise", sweep_points<r20, false>);
  add("resnet56", "blocked", sweep_points<r56, true>);
  add("resnet56", "pointwise", sweep_points<r56, false>);
  const auto layers = [](auto in, const std::string& name) {
    constexpr dims In = decltype(in)::value;
    benchmark::RegisterBenchmark(("layer/" + name + "/winograd").c_str(), layer<In, true>)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("layer/" + name + "/im2col").c_str(), layer<In, false>)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  };
  layers(std::integral_constant<dims, dims{16, 28, 28}>{}, "16x28x28");
  layers(std::integral_constant<dims, dims{32, 14, 14}>{}, "32x14x14");
  layers(std::integral_constant<dims, dims{64, 7, 7}>{}, "64x7x7");
}

int main(int argc, char** argv) {
  // Our own options first; the rest go to Google Benchmark.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--images") && i + 1 < argc)
      images = std::atol(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) {
      batches.clear();
      for (const char* p = argv[++i]; *p;) {
        char* end = nullptr;
        const long b = std::strtol(p, &end, 10);
        if (end == p || b < 1) {
          std::fprintf(stderr, "bench_sweep: --batch expects positive integers separated by commas, got %s\n", argv[i]);
          return 1;
        }
        batches.push_back(b);
        p = *end == ',' ? end + 1 : end;
      }
    } else if (!std::strcmp(argv[i], "--stage-first-layer") && i + 1 < argc)
      stage = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--data") && i + 1 < argc)
      data_dir = argv[++i];
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  if (images < 1 || batches.empty()) {
    std::fprintf(stderr, "bench_sweep: --images must be at least 1 and --batch given\n");
    return 1;
  }
  probe();
  if (!validate<r20>() || !validate<r56>()) return 1;
  register_sweeps();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
