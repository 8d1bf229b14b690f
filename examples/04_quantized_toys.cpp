// examples/04_quantized_toys.cpp — two findings of "Training Quantized Nets: A Deeper
// Understanding" (Li, De, Xu, Studer, Samet, Goldstein 2017), small enough to run in seconds.
//
// 1. The equilibrium distribution (section 5). Many independent chains minimize the tilted
//    double well f(w) = w^4/4 - w^2/2 + 0.3 w with noisy gradients f'(w) + z, with float SGD,
//    with stochastic rounding (SR) onto a grid of spacing 0.05, with BinaryConnect (BC: float
//    weights, the gradient taken at their nearest grid point, which is the weight deployed) and
//    with deterministic rounding (R: the update rounded to the nearest grid point), while the
//    learning rate falls in steps. Histograms of the chains at the end of each step: float SGD
//    concentrates on the global minimizer (w ~ -1.13) as the rate falls (its spread shrinks like
//    sqrt(lr)), and so do BC's grid points ("fully floating-point algorithms like binary connect
//    ... concentrate"); SR's spread stops shrinking once lr |g| is below the grid spacing,
//    because such an update becomes a whole-step jump with probability lr |g| / delta; R's chains
//    freeze wherever they are once lr |g| < delta / 2 ("they'll just get chopped off").
// 2. The convex noise floor (section 4). Logistic regression (a dense layer on 20 features, 2000
//    synthetic samples) trained by SR and by BinaryConnect (BC) on integer grids of several
//    spacings delta: the final optimality gap f(w) - f* (averaged over the last 200 steps)
//    against delta. Both show the noise floor that grows with delta (Theorems 1 and 3 of the
//    paper bound it by O(delta)); on this problem it grows roughly like delta^2. Then the gap
//    over the iterations (log-log, each point the mean over a bin of steps): float gradient
//    descent keeps falling while SR and BC fall alike at first and level off, each at its own
//    floor, the higher the coarser the grid: the bound's decaying term and its term in delta
//    that does not decay.
// Before both, the talk's example of stochastic rounding: 0.3 rounded onto the integers goes up
// with probability 0.3, so its mean is 0.3 (deterministic rounding: always 0), counted over many
// draws with a 99% confidence interval.
//
//   04_quantized_toys [--chains 2000] [--steps 3000] [--out quantized]
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "basin/core/files.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/optim/quantized.hpp"
#include "basin/plot/curves.hpp"
#include "cli.hpp"

namespace {
double grad_f(double w) { return w * w * w - w + 0.3; }

// Part 1 (noise sd 1.0, chains start at w = 1.5 in the shallower well): histograms of the
// chains after each learning-rate phase, for float SGD, SR, BC (the deployed weight: the float
// weight's nearest grid point) and R.
enum class rule { float_sgd, sr, bc, r };
void equilibrium(long chains, long steps, const std::string& out) {
  const std::vector<double> rates{0.2, 0.05, 0.0125, 0.003};
  const auto grid = basin::quant::integer_grid(0.05, 8);
  for (const rule how : {rule::float_sgd, rule::sr, rule::bc, rule::r}) {
    const char* name = how == rule::float_sgd ? "float" : how == rule::sr ? "SR" : how == rule::bc ? "BC" : "R";
    std::vector<double> w(static_cast<std::size_t>(chains), 1.5);  // all start in the worse well
    std::vector<std::vector<double>> samples;
    std::vector<std::string> labels;
    for (std::size_t phase = 0; phase < rates.size(); ++phase) {
      const double lr = rates[phase];
      const basin::counter_rng noise{11, 100 + phase}, round{12, 200 + phase};
      for (long c = 0; c < chains; ++c) {
        double x = w[std::size_t(c)];  // BC: the float weight; the others: the weight itself
        for (long t = 0; t < steps; ++t) {
          const auto k = std::uint64_t(c) * std::uint64_t(steps) + std::uint64_t(t);
          const double at = how == rule::bc ? basin::quant::round_nearest(x, grid) : x;
          const double y = x - lr * (grad_f(at) + 1.0 * noise.normal(k));
          x = how == rule::sr  ? basin::quant::round_stochastic(y, grid, round.uniform(k))
              : how == rule::r ? basin::quant::round_nearest(y, grid)
                               : y;
        }
        w[std::size_t(c)] = x;
      }
      // What the chains deploy: BC's grid points, the others' weights.
      std::vector<double> deployed = w;
      if (how == rule::bc)
        for (double& v : deployed) v = basin::quant::round_nearest(v, grid);
      samples.push_back(deployed);
      char label[64];
      std::snprintf(label, sizeof label, "lr %g", lr);
      labels.push_back(label);
      // Spread around the global minimizer, over the chains in its well (w < 0).
      double mean = 0, var = 0, inside = 0;
      for (double v : deployed)
        if (v < 0) mean += v, inside += 1;
      mean /= std::max(inside, 1.0);
      for (double v : deployed)
        if (v < 0) var += (v - mean) * (v - mean) / std::max(inside, 1.0);
      std::printf("%-5s lr %-6g: %5.1f%% of chains in the global well, their mean %+.3f, sd %.3f\n", name, lr,
                  100 * inside / double(chains), mean, std::sqrt(var));
    }
    basin::plot::style s;
    s.title = how == rule::float_sgd ? "Float SGD: iterates concentrate as the learning rate falls"
              : how == rule::sr      ? "Stochastic rounding (delta 0.05): iterates do not concentrate"
              : how == rule::bc      ? "BinaryConnect (delta 0.05): the deployed grid points concentrate"
                                     : "Deterministic rounding (delta 0.05): small updates are chopped off";
    s.xlabel = "w";
    s.ylabel = "chains";
    s.zlabel = "chains";
    const char* stem = how == rule::float_sgd ? "/equilibrium_float"
                       : how == rule::sr      ? "/equilibrium_sr"
                       : how == rule::bc      ? "/equilibrium_bc"
                                              : "/equilibrium_r";
    basin::plot::histograms(samples, labels, out + stem, s, 80);
  }
}

// Part 2: logistic regression's optimality gap against the grid spacing.
using logreg = basin::network<basin::input<20, 1, 1>, basin::dense<2>>;
using model_t = basin::model<logreg, double, basin::backend::host>;

struct problem {
  std::vector<double> x;  // (n, 20)
  std::vector<std::int32_t> y;
  basin::index_t n = 2000;
  basin::softmax_cross_entropy<double, basin::backend::host> ce;
  problem() : x(static_cast<std::size_t>(2000 * 20)), y(2000) {
    const basin::counter_rng rng{21, 21};
    for (basin::index_t i = 0; i < n; ++i) {
      double s = 0;
      for (int k = 0; k < 20; ++k) {
        const double v = rng.normal(std::uint64_t(i * 20 + k));
        x[std::size_t(i * 20 + k)] = v;
        s += v * (k % 3 == 0 ? 0.5 : -0.2);
      }
      y[std::size_t(i)] = rng.uniform(std::uint64_t(1000000 + i)) < 1 / (1 + std::exp(-s)) ? 1 : 0;
    }
  }
  // Full-batch loss and, when asked, its gradient in m.grads.
  double loss(model_t& m, bool grad) {
    const double* z = m.forward(x.data(), n, basin::mode::eval);
    const double l = ce(z, y.data(), 2, n, grad).loss;
    if (grad) m.backward(basin::backend::raw(ce.grad));
    return l;
  }
  // The gradient of mini-batch k (100 samples, taken in turn) in m.grads.
  void batch_gradient(model_t& m, long k) {
    const basin::index_t b = 100, first = (k % (n / b)) * b;
    const double* z = m.forward(x.data() + first * 20, b, basin::mode::eval);
    ce(z, y.data() + first, 2, b, true);
    m.backward(basin::backend::raw(ce.grad));
  }
};

// The talk's example: 0.3 rounded stochastically onto the integers. Up with probability 0.3, so
// the mean of the draws is 0.3; printed with the 99% confidence interval (normal approximation to
// the binomial, n p (1 - p) = 21000 here) and the expected count's distance in standard errors.
void unbiased_rounding() {
  const auto grid = basin::quant::integer_grid(1.0, 8);
  const basin::counter_rng u{13, 1};
  const long n = 100000;
  long up = 0;
  for (long k = 0; k < n; ++k) up += basin::quant::round_stochastic(0.3, grid, u.uniform(std::uint64_t(k))) > 0.5;
  const double p = double(up) / double(n), se = std::sqrt(p * (1 - p) / double(n));
  const double z = 2.5758;  // the standard normal's 99.5% quantile
  std::printf(
      "stochastic rounding of 0.3 onto the integers, %ld draws: up %.2f%% of the time (99%% confidence %.2f-%.2f%%; "
      "0.3 is %.2f standard errors away), mean %.4f (deterministic rounding: 0)\n",
      n, 100 * p, 100 * (p - z * se), 100 * (p + z * se), std::fabs(p - 0.3) / se, p);
}

void noise_floor(const std::string& out) {
  problem p;
  // f*: full-precision gradient descent until it stalls.
  model_t best(1);
  basin::optim::optimizer<basin::optim::sgd, double, basin::backend::host> gd({0.9, 0.0, false}, model_t::n_params);
  for (int t = 0; t < 3000; ++t) {
    p.loss(best, true);
    gd.step(basin::backend::raw(best.params), basin::backend::raw(best.grads), 0.5);
  }
  const double fstar = p.loss(best, false);
  std::printf("logistic regression: f* = %.6f\n", fstar);
  const std::vector<double> deltas{0.002, 0.005, 0.01, 0.02, 0.05, 0.1};
  std::vector<basin::plot::curve> gaps;
  for (const auto rule : {basin::optim::rounding::stochastic, basin::optim::rounding::binary_connect}) {
    basin::plot::curve c{{}, {}, rule == basin::optim::rounding::stochastic ? "SR" : "BC"};
    for (double delta : deltas) {
      model_t m(1);
      basin::optim::quantized_optimizer<model_t, basin::optim::sgd> opt(m, {0.0, 0.0, false}, {rule, 16, delta, 3});
      double tail = 0;
      const int steps = 2000;
      for (int t = 0; t < steps; ++t) {
        p.loss(m, true);
        opt.step(m, 0.5 / (1 + t / 200.0));  // decaying learning rate
        if (t >= steps - 200) tail += p.loss(m, false) / 200;  // average over the last steps
      }
      c.x.push_back(delta);
      c.y.push_back(std::max(tail - fstar, 1e-9));
      std::printf("%s delta %-6g: optimality gap %.2e\n", c.label.c_str(), delta, tail - fstar);
    }
    gaps.push_back(c);
  }
  basin::plot::style s;
  s.title = "Convex noise floor: logistic regression on a grid";
  s.xlabel = "grid spacing delta";
  s.zlabel = "f(w) - f*";
  s.log_z = true;
  basin::plot::curves(gaps, {}, out + "/noise_floor", s);

  // The gap over the iterations, with stochastic gradients now (mini-batches of 100, as the
  // paper's theorems assume; the same learning rates): float SGD's gap keeps decaying (like 1/t at
  // these rates), SR's and BC's stop at their floors. The gap is the full loss's, at every step
  // of the first 1000 and every 10th after, averaged over bins of steps a quarter decade wide.
  const int long_steps = 20000;
  std::vector<int> edges{1};
  for (double e = 1; edges.back() < long_steps;) {
    e *= std::pow(10.0, 0.25);
    const int v = std::min(long_steps, int(std::ceil(e)));
    if (v > edges.back()) edges.push_back(v);
  }
  const auto measured = [](int t) { return t < 1000 || t % 10 == 0; };
  const auto binned = [&](const std::vector<double>& gap, basin::plot::curve c) {
    for (std::size_t b = 0; b + 1 < edges.size(); ++b) {
      double sum = 0, count = 0;
      for (int t = edges[b]; t < edges[b + 1]; ++t)
        if (measured(t)) sum += gap[std::size_t(t)], count += 1;
      if (count == 0) continue;
      c.x.push_back(std::sqrt(double(edges[b]) * double(edges[b + 1] - 1)));  // the bin's geometric centre
      c.y.push_back(sum / count);
    }
    return c;
  };
  const auto lr_at = [](int t) { return 0.5 / (1 + t / 200.0); };
  std::vector<basin::plot::curve> over;
  {
    model_t m(1);
    basin::optim::optimizer<basin::optim::sgd, double, basin::backend::host> opt({0.0, 0.0, false}, model_t::n_params);
    std::vector<double> gap(static_cast<std::size_t>(long_steps));
    for (int t = 0; t < long_steps; ++t) {
      if (measured(t)) gap[std::size_t(t)] = p.loss(m, false) - fstar;
      p.batch_gradient(m, t);
      opt.step(basin::backend::raw(m.params), basin::backend::raw(m.grads), lr_at(t));
    }
    over.push_back(binned(gap, {{}, {}, "float SGD"}));
  }
  for (const auto rule : {basin::optim::rounding::stochastic, basin::optim::rounding::binary_connect})
    for (double delta : {0.01, 0.1}) {
      model_t m(1);
      basin::optim::quantized_optimizer<model_t, basin::optim::sgd> opt(m, {0.0, 0.0, false}, {rule, 16, delta, 3});
      std::vector<double> gap(static_cast<std::size_t>(long_steps));
      for (int t = 0; t < long_steps; ++t) {
        if (measured(t)) gap[std::size_t(t)] = p.loss(m, false) - fstar;
        p.batch_gradient(m, t);
        opt.step(m, lr_at(t));
      }
      char label[64];
      std::snprintf(label, sizeof label, "%s delta %g", rule == basin::optim::rounding::stochastic ? "SR" : "BC",
                    delta);
      over.push_back(binned(gap, {{}, {}, label}));
    }
  std::printf("the gap over the iterations with mini-batches of 100 (mean over a bin of steps around t):\n%-14s", "");
  const std::vector<std::size_t> shown{2, 6, 10, 14, over[0].x.size() - 1};
  for (std::size_t b : shown) std::printf("  t ~ %-7.0f", over[0].x[b]);
  std::printf("\n");
  for (const auto& c : over) {
    std::printf("%-14s", c.label.c_str());
    for (std::size_t b : shown) std::printf("  %-11.2e", c.y[b]);
    std::printf("\n");
  }
  basin::plot::style so;
  so.title = "The gap over the iterations: it decays, then stops at a floor that grows with delta";
  so.xlabel = "iteration";
  so.zlabel = "f(w) - f*";
  so.log_x = true;
  so.log_z = true;
  basin::plot::curves(over, {}, out + "/noise_floor_over_time", so);
}
}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Draws the equilibrium distributions of float SGD, stochastic rounding, BinaryConnect and "
                            "deterministic rounding on a double well, and the noise floor of SR and BC on a convex "
                            "logistic regression against the grid spacing and over the iterations.");
  const long chains = args.get("chains", 2000L, about{"independent chains in the equilibrium histograms"}),
             steps = args.get("steps", 3000L, about{"steps each chain takes at each of the 4 learning rates"});
  const std::string out =
      args.get("out", std::string("quantized"), about{"folder the pictures and their data are written to"});
  if (!args.done()) return 0;  // --help
  basin::require(chains >= 10 && chains <= 10000000, "option --chains: expected 10 to 10^7 chains, got ", chains);
  basin::require(steps >= 1 && steps <= 1000000000, "option --steps: expected 1 to 10^9 steps, got ", steps);
  basin::make_folder(out, "option --out");
  unbiased_rounding();
  equilibrium(chains, steps, out);
  noise_floor(out);
  std::printf(
      "wrote %s/{equilibrium_float,equilibrium_sr,equilibrium_bc,equilibrium_r,noise_floor,noise_floor_over_time}.png "
      "(+ .svg, .dat, .gp)\n",
      out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "04_quantized_toys: %s\n", e.what());
  return 1;
}
