// bench/bench_resnet.cpp — forward (eval), backward and one training step of resnet20 and
// resnet56 on 1x28x28 inputs, in images/s and GFLOP/s (forward FLOPs counted from the layer
// shapes; backward and a step counted as 2x and 3x forward, the usual convention).
//
// Validates before it times: the model's eval-mode logits on a fixed batch must match a
// double-precision model with the same weights to 1e-4 relative (the host reference).
// Compare with PyTorch: bench/compare_pytorch.py --basin-json <this program's JSON output>.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "zoo_flops.hpp"

using namespace basin;

namespace {
template <class Net>
struct fixture {
  using m = model<Net, float>;
  m net{1};
  std::vector<float> x;
  std::vector<std::int32_t> labels;
  softmax_cross_entropy<float, backend::host> ce;
  explicit fixture(index_t n) : x(static_cast<std::size_t>(n * 784)), labels(static_cast<std::size_t>(n)) {
    const counter_rng rng{5, 5};
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(rng.normal(i));
    for (index_t i = 0; i < n; ++i) labels[i] = std::int32_t(i % 10);
  }
};

template <class Net>
bool validate() {
  const index_t n = 4;
  fixture<Net> f(n);
  model<Net, double> ref(1);
  std::vector<double> xd(f.x.begin(), f.x.begin() + n * 784);
  const float* z = f.net.forward(f.x.data(), n, mode::eval);
  const double* zr = ref.forward(xd.data(), n, mode::eval);
  double worst = 0, scale = 0;
  for (index_t i = 0; i < 10 * n; ++i) {
    worst = std::max(worst, std::abs(double(z[i]) - zr[i]));
    scale = std::max(scale, std::abs(zr[i]));
  }
  const bool ok = worst <= 1e-4 * scale;
  std::fprintf(stderr, "validate %s: float vs double logits, max rel %.2e %s\n", Net::name().c_str(), worst / scale,
               ok ? "ok" : "MISMATCH");
  return ok;
}

template <class Net>
void forward(benchmark::State& st) {
  const index_t n = st.range(0);
  fixture<Net> f(n);
  for (auto _ : st) benchmark::DoNotOptimize(f.net.forward(f.x.data(), n, mode::eval));
  st.counters["images_per_second"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP_per_second"] =
      benchmark::Counter(double(n) * bench::forward_flops<Net>() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Net>
void backward(benchmark::State& st) {
  const index_t n = st.range(0);
  fixture<Net> f(n);
  const float* z = f.net.forward(f.x.data(), n, mode::train);
  f.ce(z, f.labels.data(), 10, n, true);
  for (auto _ : st) f.net.backward(backend::raw(f.ce.grad));
  st.counters["images_per_second"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP_per_second"] =
      benchmark::Counter(double(n) * 2 * bench::forward_flops<Net>() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Net>
void train_step(benchmark::State& st) {
  const index_t n = st.range(0);
  fixture<Net> f(n);
  optim::optimizer<optim::sgd, float, backend::host> opt({0.9, 5e-4, true}, f.net.n_params);
  for (auto _ : st) {
    const float* z = f.net.forward(f.x.data(), n, mode::train);
    f.ce(z, f.labels.data(), 10, n, true);
    f.net.backward(backend::raw(f.ce.grad));
    opt.step(backend::raw(f.net.params), backend::raw(f.net.grads), 0.01);
  }
  st.counters["images_per_second"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GFLOP_per_second"] =
      benchmark::Counter(double(n) * 3 * bench::forward_flops<Net>() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// One 3x3 conv layer's backward (both gradients) on the resnets' three stages, batch 128: arg 1
// by Winograd (the default), arg 0 by im2col + GEMM and col2im. The ratio of the two lines is
// what the Winograd gradients save on this machine.
template <int C, int H>
void conv_backward(benchmark::State& st) {
  const index_t n = 128;
  using layer = typename conv<C, 3>::template bind<dims{C, H, H}, float, backend::host>;
  layer c;
  c.reserve(n);
  c.use_winograd = st.range(0) != 0;
  const counter_rng rng{7, 7};
  std::vector<float> w(layer::n_params), gw(layer::n_params), x(std::size_t(n * C * H * H)), dx(x.size()), dy(x.size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = float(rng.normal(i));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(rng.normal(1000000 + i)), dy[i] = float(rng.normal(i));
  for (auto _ : st) c.backward(w.data(), gw.data(), x.data(), nullptr, dy.data(), dx.data(), n);
  st.counters["GFLOP_per_second"] = benchmark::Counter(4.0 * n * C * C * 9 * H * H * 1e-9,
                                                       benchmark::Counter::kIsIterationInvariantRate);
}

using r20 = resnet20<fashion_input>;
using r56 = resnet56<fashion_input>;
}  // namespace

BENCHMARK(forward<r20>)->Name("forward/resnet20")->Arg(32)->Arg(64)->Arg(128)->Arg(256)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(forward<r56>)->Name("forward/resnet56")->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(backward<r20>)->Name("backward/resnet20")->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(backward<r56>)->Name("backward/resnet56")->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(train_step<r20>)->Name("train_step/resnet20")->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(conv_backward<16, 28>)->Name("conv_backward/16x28x28")->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(conv_backward<32, 14>)->Name("conv_backward/32x14x14")->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(conv_backward<64, 7>)->Name("conv_backward/64x7x7")->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(train_step<r56>)->Name("train_step/resnet56")->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  if (!validate<r20>() || !validate<r56>()) return 1;
  std::fprintf(stderr, "resnet20: %.1f MFLOP per 28x28 image forward; resnet56: %.1f\n",
               bench::forward_flops<r20>() * 1e-6, bench::forward_flops<r56>() * 1e-6);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
