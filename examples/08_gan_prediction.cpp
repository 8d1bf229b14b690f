// examples/08_gan_prediction.cpp — saddle points, and the prediction step that reaches them.
//
// The talk's last part (Yadav, Shah, Xu, Jacobs, Goldstein 2018): training a GAN is a search for
// a saddle point, and plain alternating gradient steps circle saddles instead of reaching them.
// 1. The simplest saddle, L(u, v) = u v: alternating steps orbit the origin forever; with the
//    prediction step they spiral into it (printed with the closed-form rates, and drawn).
// 2. A GAN on a ring of 8 Gaussians: the same MLP generator and discriminator, the same seeds,
//    trained with and without prediction; every few thousand steps it prints how many of the 8
//    modes the generator covers and how many of its samples are near a mode, and it draws the
//    final samples.
// Writes into <out>: bilinear.{png,svg}, gan_alternating.{png,svg}, gan_prediction.{png,svg}
// (each with its .dat and .gp).
//
//   08_gan_prediction [--steps 8000] [--batch 256] [--lr 1e-3] [--seed 1] [--out gan]
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
  const auto seed = std::uint64_t(args.get("seed", 1L));
  const std::string out = args.get("out", std::string("gan"));
  args.done();
  basin::require(steps >= 1 && batch >= 1, "options --steps and --batch must be at least 1");
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

  // 2. The GAN on 8 Gaussians.
  const auto ring = basin::gan::mixture::ring(8, 2.0, 0.02);
  const auto real = ring.sample(seed, 1u << 30, 2000);
  for (bool predict : {false, true}) {
    generator_t g(seed);
    discriminator_t d(seed + 1);
    adam_t og({0.5, 0.999, 1e-8, 0}, generator_t::n_params), od({0.5, 0.999, 1e-8, 0}, discriminator_t::n_params);
    basin::gan::gan_options o;
    o.steps = steps;
    o.batch_size = batch;
    o.prediction = predict;
    o.seed = seed;
    const char* name = predict ? "prediction" : "alternating";
    std::printf("GAN on 8 Gaussians, %s steps (Adam, lr %g, batch %ld):\n", name, lr, batch);
    const auto report = [&](basin::index_t s) {
      if (s % std::max<long>(1, steps / 8) != 0 && s != steps) return;
      const auto c = basin::gan::mode_coverage(ring, basin::gan::generate_points(g, seed, 0, 2000));
      std::fprintf(stderr, "\n");
      std::printf("  step %6lld: %d of 8 modes covered, %5.1f%% of samples within 3 sigma of a mode\n", (long long)s,
                  c.modes, 100 * c.high_quality);
      std::fflush(stdout);
    };
    const auto rate = [lr](basin::index_t) { return lr; };
    basin::gan::train_gan(g, d, og, od, rate, rate, ring, o, report);
    const auto pts = basin::gan::generate_points(g, seed, 0, 2000);
    basin::plot::curve r{{}, {}, "real"}, f{{}, {}, "generated"};
    for (std::size_t i = 0; i < real.size(); i += 2) r.x.push_back(real[i]), r.y.push_back(real[i + 1]);
    for (std::size_t i = 0; i < pts.size(); i += 2) f.x.push_back(pts[i]), f.y.push_back(pts[i + 1]);
    basin::plot::style ss;
    ss.title = std::string("GAN on 8 Gaussians after ") + std::to_string(steps) + " steps: " + name;
    ss.xlabel = "x";
    ss.ylabel = "y";
    basin::plot::scatter({r, f}, out + "/gan_" + name, ss, ring.means);
  }
  std::printf("wrote %s/{bilinear, gan_alternating, gan_prediction}.png (+ .svg, .dat, .gp)\n", out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "08_gan_prediction: %s\n", e.what());
  return 1;
}
