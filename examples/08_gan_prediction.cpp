// examples/08_gan_prediction.cpp — saddle points, and the prediction step that reaches them.
//
// The talk's last part (Yadav, Shah, Xu, Jacobs, Goldstein 2018): training a GAN is a search for
// a saddle point, and plain alternating gradient steps circle saddles instead of reaching them.
// 1. The simplest saddle, L(u, v) = u v: alternating steps orbit the origin forever; with the
//    prediction step they spiral into it (printed with the closed-form rates, and drawn).
// 2. A GAN on a ring of Gaussians (8 by default; the talk's harder case is `--modes 100`): the
//    same MLP generator and discriminator, the same seeds, trained with and without prediction,
//    several runs each (one run is a coin toss); at 8 points of training it prints, averaged over
//    the runs, how many of the modes the generator covers and how many of its samples lie near a
//    mode, and it draws the first run's samples at the end and at 4 points of training.
// Writes into <out>: bilinear.{png,svg}, gan_alternating.{png,svg}, gan_prediction.{png,svg}, and
// gan_over_training.{png,svg} (both methods, first run, after 1/4, 1/2, 3/4 and all the steps),
// each with its .dat and .gp.
//
//   08_gan_prediction [--steps 8000] [--batch 256] [--lr 1e-3] [--runs 4] [--seed 1]
//       [--modes 8] [--radius 2] [--sigma 0.02] [--out gan]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "basin/gan/gan.hpp"
#include "basin/net/model.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/plot/curves.hpp"
#include "cli.hpp"

// The toy nets of the unrolled-GAN and prediction papers, with 16-D noise: two hidden layers of
// 128 relus each.
using generator_net =
    basin::network<basin::input<16, 1, 1>, basin::named<"fc1", basin::dense<128>>, basin::relu,
                   basin::named<"fc2", basin::dense<128>>, basin::relu, basin::named<"out", basin::dense<2>>>;
using discriminator_net =
    basin::network<basin::input<2, 1, 1>, basin::named<"fc1", basin::dense<128>>, basin::relu,
                   basin::named<"fc2", basin::dense<128>>, basin::relu, basin::named<"out", basin::dense<1>>>;
using generator_t = basin::model<generator_net, float, basin::backend::host>;
using discriminator_t = basin::model<discriminator_net, float, basin::backend::host>;
using adam_t = basin::optim::optimizer<basin::optim::adam, float, basin::backend::host>;

int main(int argc, char** argv) try {
  basin::examples::cli args(argc, argv);
  const long steps = args.get("steps", 8000L);
  const long batch = args.get("batch", 256L);
  const double lr = args.get("lr", 1e-3);
  const long runs = args.get("runs", 4L);
  const auto seed = std::uint64_t(args.get("seed", 1L));
  const int n_modes = args.get("modes", 8);
  const double radius = args.get("radius", 2.0), sigma = args.get("sigma", 0.02);
  const std::string out = args.get("out", std::string("gan"));
  args.done();
  basin::require(steps >= 1 && batch >= 1 && runs >= 1, "options --steps, --batch and --runs must be at least 1");
  basin::require(lr > 0 && lr < 1, "option --lr: expected a learning rate in (0, 1), got ", lr);
  basin::require(n_modes >= 1 && n_modes <= 10000, "option --modes: expected 1 to 10000 modes, got ", n_modes);
  basin::require(radius > 0 && sigma > 0 && std::isfinite(radius) && std::isfinite(sigma),
                 "options --radius and --sigma: expected positive numbers, got ", radius, " and ", sigma);
  std::filesystem::create_directories(out);

  // 1. u v.
  const double a = 0.2;
  std::vector<basin::plot::curve> paths;
  for (bool predict : {false, true}) {
    const auto p = basin::gan::bilinear_game<double, basin::backend::host>(1.0, 1.0, a, 100, predict);
    basin::plot::curve c;
    c.label = predict ? "with prediction" : "alternating steps";
    for (const auto& q : p) c.x.push_back(q[0]), c.y.push_back(q[1]);
    std::printf("L(u, v) = u v, step %.1f, %-17s: |(u, v)| = %.3f after 100 steps from %.3f (eigenvalue modulus %s)\n",
                a, c.label.c_str(), std::hypot(p.back()[0], p.back()[1]), std::hypot(1.0, 1.0),
                predict ? "sqrt(1 - a^2) = 0.980" : "1");
    paths.push_back(c);
  }
  basin::plot::style bs;
  bs.title = "min_u max_v u v: alternating gradient steps against prediction";
  bs.xlabel = "u";
  bs.zlabel = "v";
  basin::plot::curves(paths, {}, out + "/bilinear", bs);

  // 2. The GAN on a ring of Gaussians, over several seeds: one run is a coin toss, the average is
  // not. With many modes (the talk's 100) neighbours lie a few sigma apart: a generator that
  // spreads evenly along the circle counts as covering them.
  const auto ring = basin::gan::mixture::ring(n_modes, radius, sigma);
  const std::string ring_name = std::to_string(n_modes) + " Gaussians";
  if (n_modes > 1) {
    const double gap = 2 * radius * std::sin(3.14159265358979323846 / n_modes);
    std::printf("ring of %d Gaussians, radius %g, sigma %g: neighbouring modes %.3g apart (%.1f sigma)\n", n_modes,
                radius, sigma, gap, gap / sigma);
  }
  const auto real = ring.sample(seed, 1u << 30, 2000);
  const long every = std::max<long>(1, steps / 8);
  std::vector<std::vector<double>> modes(2), quality(2);  // [method][checkpoint], summed over seeds
  std::vector<basin::plot::scatter_panel> snapshots;      // the first run of each method
  const auto as_curve = [](const std::vector<float>& pts, const std::string& label) {
    basin::plot::curve c{{}, {}, label};
    for (std::size_t i = 0; i + 1 < pts.size(); i += 2) c.x.push_back(pts[i]), c.y.push_back(pts[i + 1]);
    return c;
  };
  const auto real_curve = as_curve(real, "real");
  std::vector<basin::index_t> snap_steps;  // after 1/4, 1/2, 3/4 and all of the steps
  for (long q = 1; q <= 4; ++q)
    if (q * steps / 4 >= 1 && (snap_steps.empty() || snap_steps.back() != q * steps / 4))
      snap_steps.push_back(q * steps / 4);
  for (int method = 0; method < 2; ++method) {
    const bool predict = method == 1;
    const char* name = predict ? "prediction" : "alternating";
    modes[method].assign(std::size_t(steps / every + 1), 0.0);
    quality[method] = modes[method];
    for (long r = 0; r < runs; ++r) {
      const std::uint64_t run_seed = seed + std::uint64_t(r) * 1000;
      generator_t g(run_seed);
      discriminator_t d(run_seed + 1);
      adam_t og({0.5, 0.999, 1e-8, 0}, generator_t::n_params), od({0.5, 0.999, 1e-8, 0}, discriminator_t::n_params);
      basin::gan::gan_options o;
      o.steps = steps;
      o.batch_size = batch;
      o.prediction = predict;
      o.seed = run_seed;
      o.progress = false;
      std::printf("GAN on %s, %s steps, run %ld of %ld (Adam, lr %g, batch %ld)\n", ring_name.c_str(), name, r + 1,
                  runs, lr, batch);
      std::fflush(stdout);
      const auto check = [&](basin::index_t s) {
        if (r == 0 && std::find(snap_steps.begin(), snap_steps.end(), s) != snap_steps.end())
          snapshots.push_back({{real_curve, as_curve(basin::gan::generate_points(g, run_seed, 0, 2000), "generated")},
                               std::string(name) + ", step " + std::to_string(s)});
        if (s % every != 0) return;
        const auto c = basin::gan::mode_coverage(ring, basin::gan::generate_points(g, run_seed, 0, 2000));
        modes[method][std::size_t(s / every)] += c.modes;
        quality[method][std::size_t(s / every)] += c.high_quality;
      };
      const auto rate = [lr](basin::index_t) { return lr; };
      basin::gan::train_gan(g, d, og, od, rate, rate, ring, o, check);
      if (r > 0) continue;
      basin::plot::style ss;
      ss.title = "GAN on " + ring_name + " after " + std::to_string(steps) + " steps: " + name + " (run 1)";
      ss.xlabel = "x";
      ss.ylabel = "y";
      basin::plot::scatter({real_curve, as_curve(basin::gan::generate_points(g, run_seed, 0, 2000), "generated")},
                           out + "/gan_" + name, ss, ring.means);
    }
  }
  basin::plot::style ps;
  ps.title = "GAN on " + ring_name + ", run 1: alternating steps (top) and prediction (bottom) over training";
  ps.xlabel = "x";
  ps.ylabel = "y";
  ps.width = 1600;
  ps.height = 900;
  basin::plot::scatter_panels(snapshots, int(snapshots.size() / 2), out + "/gan_over_training", ps, ring.means);
  std::printf("\nmean over %ld runs: modes covered (of %d) and %% of samples within 3 sigma of a mode\n", runs,
              n_modes);
  std::printf("   step   alternating          prediction\n");
  for (std::size_t k = 1; k < modes[0].size(); ++k)
    std::printf("  %6ld   %4.1f modes %5.1f%%   %4.1f modes %5.1f%%\n", long(k) * every, modes[0][k] / runs,
                100 * quality[0][k] / runs, modes[1][k] / runs, 100 * quality[1][k] / runs);
  std::printf("wrote %s/{bilinear, gan_alternating, gan_prediction, gan_over_training}.png (+ .svg, .dat, .gp)\n",
              out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "08_gan_prediction: %s\n", e.what());
  return 1;
}
