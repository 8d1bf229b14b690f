// examples/08_gan_prediction.cpp — saddle points, and the prediction step that reaches them.
//
// The talk's last part (Yadav, Shah, Xu, Jacobs, Goldstein 2018): training a GAN is a search for
// a saddle point, and plain alternating gradient steps circle saddles instead of reaching them.
// 1. The simplest saddle, L(u, v) = u v: alternating steps orbit the origin forever; with the
//    prediction step they spiral into it (printed with the closed-form rates, and drawn).
// 2. A GAN on a ring of 8 Gaussians: the same MLP generator and discriminator, the same seeds,
//    trained with and without prediction, several runs each (one run is a coin toss); at 8
//    points of training it prints, averaged over the runs, how many of the 8 modes the generator
//    covers and how many of its samples lie near a mode, and it draws the first run's samples.
// Writes into <out>: bilinear.{png,svg}, gan_alternating.{png,svg}, gan_prediction.{png,svg}
// (each with its .dat and .gp).
//
//   08_gan_prediction [--steps 8000] [--batch 256] [--lr 1e-3] [--runs 4] [--seed 1] [--out gan]
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
  const std::string out = args.get("out", std::string("gan"));
  args.done();
  basin::require(steps >= 1 && batch >= 1 && runs >= 1, "options --steps, --batch and --runs must be at least 1");
  basin::require(lr > 0 && lr < 1, "option --lr: expected a learning rate in (0, 1), got ", lr);
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

  // 2. The GAN on 8 Gaussians, over several seeds: one run is a coin toss, the average is not.
  const auto ring = basin::gan::mixture::ring(8, 2.0, 0.02);
  const auto real = ring.sample(seed, 1u << 30, 2000);
  const long every = std::max<long>(1, steps / 8);
  std::vector<std::vector<double>> modes(2), quality(2);  // [method][checkpoint], summed over seeds
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
      std::printf("GAN on 8 Gaussians, %s steps, run %ld of %ld (Adam, lr %g, batch %ld)\n", name, r + 1, runs, lr,
                  batch);
      std::fflush(stdout);
      const auto check = [&](basin::index_t s) {
        if (s % every != 0) return;
        const auto c = basin::gan::mode_coverage(ring, basin::gan::generate_points(g, run_seed, 0, 2000));
        modes[method][std::size_t(s / every)] += c.modes;
        quality[method][std::size_t(s / every)] += c.high_quality;
      };
      const auto rate = [lr](basin::index_t) { return lr; };
      basin::gan::train_gan(g, d, og, od, rate, rate, ring, o, check);
      if (r > 0) continue;
      const auto pts = basin::gan::generate_points(g, run_seed, 0, 2000);
      basin::plot::curve re{{}, {}, "real"}, f{{}, {}, "generated"};
      for (std::size_t i = 0; i < real.size(); i += 2) re.x.push_back(real[i]), re.y.push_back(real[i + 1]);
      for (std::size_t i = 0; i < pts.size(); i += 2) f.x.push_back(pts[i]), f.y.push_back(pts[i + 1]);
      basin::plot::style ss;
      ss.title = std::string("GAN on 8 Gaussians after ") + std::to_string(steps) + " steps: " + name + " (run 1)";
      ss.xlabel = "x";
      ss.ylabel = "y";
      basin::plot::scatter({re, f}, out + "/gan_" + name, ss, ring.means);
    }
  }
  std::printf("\nmean over %ld runs: modes covered (of 8) and %% of samples within 3 sigma of a mode\n", runs);
  std::printf("   step   alternating          prediction\n");
  for (std::size_t k = 1; k < modes[0].size(); ++k)
    std::printf("  %6ld   %4.1f modes %5.1f%%   %4.1f modes %5.1f%%\n", long(k) * every, modes[0][k] / runs,
                100 * quality[0][k] / runs, modes[1][k] / runs, 100 * quality[1][k] / runs);
  std::printf("wrote %s/{bilinear, gan_alternating, gan_prediction}.png (+ .svg, .dat, .gp)\n", out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "08_gan_prediction: %s\n", e.what());
  return 1;
}
