// bench/bench_quantized.cpp — forward (eval) throughput of resnet20 on 1x28x28 inputs with float,
// binary and 8-bit and 4-bit integer weights, and the bytes of weights each keeps packed.
//
// A quantized net rounds its trainable values onto its grids into packed form at every forward
// (weights/packed_tensor.hpp), then runs the float kernels on the unpacked values; binary nets can
// instead accumulate by sign selection (`sign_select`: +x or -x by each weight's bit, no
// multiplications). Validates first: every quantized net's logits equal a float net's on the
// dequantized weights (1e-5 relative). Prints the ratio to float for each weight type last.
//
//   OMP_NUM_THREADS=2 ./build/release/bench/bench_quantized --benchmark_min_time=1
//       --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true  (one line)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "zoo_flops.hpp"

using namespace basin;

namespace {
constexpr index_t batch = 128;

std::vector<float> images(index_t n) {
  std::vector<float> x(static_cast<std::size_t>(n * 784));
  const counter_rng rng{5, 5};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(rng.normal(i));
  return x;
}

// Bytes of weights: the packed words of every quantized layer, the float values of the rest.
template <class M>
double weight_bytes(M& m) {
  double packed = 0, counted = 0;
  m.for_each_layer([&](auto& l) {
    if constexpr (requires { l.store.packed; }) {
      packed += double(l.store.packed.bytes());
      counted += double(l.store.packed.size());
    }
  });
  double weights = 0;
  for (const auto& d : M::param_table)
    if (d.kind == param_kind::weight) weights += double(d.size());
  return packed + 4.0 * (weights - counted);
}

// The quantized net's logits against a float net given the dequantized weights.
template <class W>
bool validate() {
  using qnet = resnet20<fashion_input, W>;
  model<qnet, float> q(1);
  model<resnet20<fashion_input>, float> r(1);
  const auto x = images(4);
  const float* zq = q.forward(x.data(), 4, mode::eval);
  const std::vector<float> lq(zq, zq + 40);
  // Each quantized layer's values (weights on the grid) into the float net, tensor by tensor.
  std::vector<const float*> values;
  q.for_each_layer([&](auto& l) {
    if constexpr (requires { l.store.values; }) values.push_back(backend::raw(l.store.values));
  });
  std::size_t k = 0;
  for (std::size_t t = 0; t < r.param_table.size(); ++t) {
    const auto& d = r.param_table[t];
    if (d.kind != param_kind::weight) continue;
    for (index_t i = 0; i < d.size(); ++i) r.params[d.offset + i] = values[k][i];
    ++k;
  }
  const float* zr = r.forward(x.data(), 4, mode::eval);
  double worst = 0, scale = 0;
  for (int i = 0; i < 40; ++i) worst = std::max(worst, double(std::fabs(lq[i] - zr[i]))), scale = std::max(scale, double(std::fabs(zr[i])));
  q.set_sign_select(true);
  const float* zs = q.forward(x.data(), 4, mode::eval);
  for (int i = 0; i < 40; ++i) worst = std::max(worst, double(std::fabs(zs[i] - zr[i])));
  const bool ok = worst <= 1e-5 * scale && k == values.size();
  std::fprintf(stderr, "validate %s: logits vs float net on dequantized weights, max rel %.2e %s\n", qnet::name().c_str(),
               worst / scale, ok ? "ok" : "MISMATCH");
  return ok;
}

std::map<std::string, double> rates;

template <class W>
void forward(benchmark::State& st) {
  using net = resnet20<fashion_input, W>;
  model<net, float> m(1);
  const bool sign_select = st.range(0) != 0;
  m.set_sign_select(sign_select);
  const auto x = images(batch);
  m.forward(x.data(), batch, mode::eval);  // buffers for this batch size, outside the timing
  for (auto _ : st) benchmark::DoNotOptimize(m.forward(x.data(), batch, mode::eval));
  const double per_s = double(st.iterations()) * double(batch);
  st.counters["images/s"] = benchmark::Counter(per_s, benchmark::Counter::kIsRate);
  st.counters["weight_bytes"] = weight_bytes(m);
  st.SetLabel(net::name() + (sign_select ? " sign select" : ""));
}
}  // namespace

BENCHMARK_TEMPLATE(forward, weights::real)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(forward, weights::binary)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(forward, weights::integer<8>)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(forward, weights::integer<4>)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

// Prints, after the runs, each weight type's forward rate (the median of its repetitions: run with
// --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true on a noisy machine) and
// weight bytes relative to float.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      auto& row = rows_[r.report_label];
      row.rates.push_back(r.counters.at("images/s"));
      row.bytes = r.counters.at("weight_bytes");
      if (std::find(order_.begin(), order_.end(), r.report_label) == order_.end()) order_.push_back(r.report_label);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    };
    std::sort(order_.begin(), order_.end());
    const double f_rate = median(rows_["resnet20"].rates), f_bytes = rows_["resnet20"].bytes;
    std::printf("\n%-32s %12s %10s %14s %10s\n", "forward, batch 128 (median)", "images/s", "vs float", "weight bytes",
                "smaller");
    for (const auto& label : order_) {
      const auto& r = rows_[label];
      std::printf("%-32s %12.0f %9.2fx %14.0f %9.1fx\n", label.c_str(), median(r.rates), median(r.rates) / f_rate,
                  r.bytes, f_bytes / r.bytes);
    }
    std::printf("(target: binary forward no slower than float, binary weights 32x smaller)\n");
  }

 private:
  struct row {
    std::vector<double> rates;
    double bytes = 0;
  };
  std::map<std::string, row> rows_;
  std::vector<std::string> order_;
};

int main(int argc, char** argv) {
  if (!validate<weights::binary>() || !validate<weights::integer<8>>() || !validate<weights::integer<4>>()) return 1;
  benchmark::Initialize(&argc, argv);
  ratio_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  benchmark::Shutdown();
  return 0;
}
