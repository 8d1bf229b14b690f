// bench/gpu/bench_gpu.cpp — basin on a GPU: resnet20/56 training steps and 2-D sweep throughput
// on CIFAR-shaped inputs, with cuBLAS SGEMM measured in the same run for scale.
// Validates first: GPU logits against the host backend on the same weights (1e-4 relative).
// Prints one line per measurement and a table last. Compiled by nvcc (bench_gpu.cu).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "basin/backend/cuda.hpp"
#include "basin/backend/host.hpp"
#include "basin/landscape/directions.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"

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
void bench_net(std::vector<row>& rows, index_t batch, index_t sweep_images, index_t sweep_batch) {
  model<Net, float, gpu> m(1);
  const counter_rng rng{5, 5};
  std::vector<float> x(std::size_t(std::max(batch, sweep_images) * Net::in.size()));
  std::vector<std::int32_t> labels(std::size_t(std::max(batch, sweep_images)));
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
  // A sweep point: set w = w* + a d1 + b d2, evaluate loss and accuracy over sweep_images.
  auto d1 = random_direction(m, 1, 0, {}), d2 = random_direction(m, 1, 1, {});
  const auto p0 = m.params, s0 = m.state;
  double a = -1;
  const double point = time_it([&] {
    set_point(m, p0, s0, d1, a, &d2, 0.5);
    a += 0.01;
    for (index_t b0 = 0; b0 < sweep_images; b0 += sweep_batch) {
      const index_t nb = std::min(sweep_batch, sweep_images - b0);
      const float* z = m.forward(backend::raw(xd) + b0 * Net::in.size(), nb, mode::eval);
      ce(z, backend::raw(ld) + b0, 10, nb, false);
    }
  }, 2, 2.0);
  rows.push_back({Net::name() + " sweep, " + std::to_string(sweep_images) + " images/point", 1.0 / point, "points/s"});
  std::printf("%s: sweep point %.2f ms (%.2f points/s)\n", Net::name().c_str(), point * 1e3, 1.0 / point);
}
}  // namespace

int main() try {
  if (!validate<resnet20<cifar_input>>() || !validate<resnet56<cifar_input>>()) return 1;
  std::vector<row> rows;
  const double gf = sgemm_gflops(4096);
  rows.push_back({"cuBLAS SGEMM 4096^3", gf, "GFLOP/s"});
  bench_net<resnet20<cifar_input>>(rows, 128, 2000, 500);
  bench_net<resnet56<cifar_input>>(rows, 128, 2000, 500);
  std::printf("\n%-48s %14s\n", "basin on the GPU (float32, TF32 off)", "");
  for (const auto& r : rows) std::printf("%-48s %12.1f %s\n", r.what.c_str(), r.value, r.unit.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_gpu: %s\n", e.what());
  return 1;
}
