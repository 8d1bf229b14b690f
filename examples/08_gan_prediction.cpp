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
//    mode, and it draws the first run's samples at the end and at 4 points of training, and which
//    modes its samples occupy over training (the talk: without prediction "it picks up certain
//    modes and then it switches to other modes").
// 3. With several learning rates (`--lr 1e-4,1e-3,1e-2`) or momentum parameters (Adam's beta1,
//    `--beta1 0.5,0.7,0.9`; "these training algorithms are very sensitive to the momentum parameter
//    but we can ... train with prediction and use a range of momentum parameters that's much wider"),
//    the talk's claim that prediction trains over a wider range of settings: the modes covered and
//    the share of good samples at the end against the rate or beta1, for both methods (a run whose
//    losses stop being finite counts as covering nothing from then on). Both lists give every pair.
// `--optimizer sgd` trains both nets with SGD instead (the prediction step's theory is for
// gradient steps), `--beta1` then giving its momentum (default 0) and `--lr` defaulting to 0.1;
// its runs and pictures carry sgd_ (runs/sgd_lr0.1_alternating_0.h5, gan_sgd_lr0.1_alternating.png,
// gan_sgd_lr_sweep.png, gan_sgd_momentum_sweep.png).
// Writes into <out>: bilinear.{png,svg}, gan_alternating.{png,svg}, gan_prediction.{png,svg},
// gan_over_training.{png,svg} (both methods, first run, after 1/4, 1/2, 3/4 and all the steps),
// gan_modes_{alternating,prediction}.{png,svg} (the share of the first run's samples at each mode
// over training), each with its .dat and .gp; with several settings these carry them
// (gan_lr0.001_alternating.png, gan_lr0.001_beta1-0.9_alternating.png, ...) and gan_lr_sweep or
// gan_beta1_sweep.{png,svg} compares them (the setting held fixed in the name unless it is the
// default: gan_lr_sweep_beta1-0.9, gan_beta1_sweep_lr0.003; with several rates the first and the
// last, gan_beta1_sweep_lr0.001-0.003). Each finished run is written at once to
// <out>/runs/lr<lr>[_beta1-<beta1>]_<method>_<run>.h5 (its checks, samples and both nets; beta1 in
// the name unless it is the default 0.5); a rerun reads the runs it finds (of the same recipe;
// another recipe's file is refused) and trains only the missing ones.
//
//   08_gan_prediction [--steps 8000] [--batch 256] [--lr 1e-3 or a list 1e-4,1e-3,...]
//       [--beta1 0.5 or a list 0.5,0.9] [--optimizer adam|sgd] [--runs 4] [--seed 1] [--modes 8]
//       [--radius 2] [--sigma 0.02]
//       [--out gan]
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "basin/core/files.hpp"
#include "basin/gan/gan.hpp"
#include "basin/io/hdf5.hpp"
#include "basin/net/model.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/plot/curves.hpp"
#include "basin/plot/surface.hpp"
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
using sgd_t = basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host>;

namespace {

// What one run (one learning rate, method and seed) leaves: the coverage at every check, the
// share of samples at each mode over training, and for the first run the samples drawn.
struct run_result {
  std::vector<double> modes, quality;  // at settings::checks' steps
  std::vector<double> occupancy;       // (checks, modes) row-major: share of samples at each mode
  std::vector<float> snapshots;        // run 0: 2000 points at each snapshot step, then at the end
  long finished = 0;                   // steps taken (fewer than asked when a loss stopped being finite)
};

struct settings {
  long steps, batch, runs;
  std::vector<basin::index_t> checks, fine;  // the steps of the coverage table (8) and of the mode map (64)
  std::uint64_t seed;
  bool sgd = false;  // SGD with momentum (the list --beta1 is its momentum) instead of Adam
  int n_modes;
  double radius, sigma;
  std::string out;
  std::vector<basin::index_t> snap_steps;
};

// Trains one run, or reads it back from its file when an earlier run of the same recipe wrote it.
run_result one_run(const settings& st, const basin::gan::mixture& ring, double lr, double beta1, bool predict, long r,
                   const std::string& file) {
  const std::uint64_t run_seed = st.seed + std::uint64_t(r) * 1000;
  const std::string recipe =
      basin::text("GAN on a ring of ", st.n_modes, " Gaussians, radius ", st.radius, ", sigma ", st.sigma, "; ",
                  predict ? "prediction" : "alternating", st.sgd ? ", SGD lr " : ", Adam lr ", lr,
                  st.sgd ? " momentum " : " beta1 ", beta1, ", batch ", st.batch, ", ", st.steps, " steps, ",
                  st.checks.size(), " and ", st.fine.size(), " checks, seed ", run_seed);
  const long checks = long(st.checks.size()), fine_checks = long(st.fine.size()), k = st.n_modes;
  run_result res;
  if (basin::path_exists(file, "08_gan_prediction")) {
    auto f = basin::h5::file::open(file);
    const std::string theirs = f.has_attr("/", "recipe") ? f.attr_string("/", "recipe") : std::string("none");
    basin::require(theirs == recipe, "'", file, "' holds another run:\n  the file's: ", theirs,
                   "\n  this run:   ", recipe, "\n(use another --out, or remove the file to train again)");
    // Every dataset's shape checked before it is read: a file is not trusted.
    const std::size_t snaps = r == 0 ? st.snap_steps.size() : 0;
    const auto expect = [&](const char* name, std::vector<hsize_t> want) {
      basin::require(f.is_dataset(name) && f.shape(name) == want, "'", file, "' is malformed: dataset '", name, "' ",
                     f.is_dataset(name) ? "has shape " + basin::h5::detail::dims_string(f.shape(name)) : "is missing",
                     ", expected ", basin::h5::detail::dims_string(want), " (remove the file to run it again)");
    };
    expect("modes", {hsize_t(checks)});
    expect("quality", {hsize_t(checks)});
    expect("occupancy", {hsize_t(fine_checks), hsize_t(k)});
    expect("snapshots", {hsize_t(snaps), 2000, 2});
    res.modes = f.read<double>("modes"), res.quality = f.read<double>("quality");
    res.occupancy = f.read<double>("occupancy");
    res.snapshots = f.read<float>("snapshots");
    res.finished = long(f.attr_i64("/", "finished"));
    basin::require(res.finished >= 0 && res.finished <= st.steps, "'", file, "' is malformed: it says ", res.finished,
                   " steps were taken, expected 0 to ", st.steps, " (remove the file to run it again)");
    return res;
  }
  generator_t g(run_seed);
  discriminator_t d(run_seed + 1);
  basin::gan::gan_options o;
  o.steps = st.steps;
  o.batch_size = st.batch;
  o.prediction = predict;
  o.seed = run_seed;
  o.progress = false;
  o.stop_when_not_finite = true;
  res.modes.assign(std::size_t(checks), 0.0);
  res.quality.assign(std::size_t(checks), 0.0);
  res.occupancy.assign(std::size_t(fine_checks * k), 0.0);
  const auto check = [&](basin::index_t s) {
    const bool snap = r == 0 && std::find(st.snap_steps.begin(), st.snap_steps.end(), s) != st.snap_steps.end();
    const auto coarse = std::lower_bound(st.checks.begin(), st.checks.end(), s);
    const auto fine = std::lower_bound(st.fine.begin(), st.fine.end(), s);
    const bool at_coarse = coarse != st.checks.end() && *coarse == s, at_fine = fine != st.fine.end() && *fine == s;
    if (!snap && !at_coarse && !at_fine) return;
    const auto pts = basin::gan::generate_points(g, run_seed, 0, 2000);
    if (snap) res.snapshots.insert(res.snapshots.end(), pts.begin(), pts.end());
    const auto c = basin::gan::mode_coverage(ring, pts);
    if (at_coarse) {
      res.modes[std::size_t(coarse - st.checks.begin())] = c.modes;
      res.quality[std::size_t(coarse - st.checks.begin())] = c.high_quality;
    }
    if (at_fine)
      for (long m = 0; m < k; ++m)
        res.occupancy[std::size_t((fine - st.fine.begin()) * k + m)] = double(c.per_mode[std::size_t(m)]) / 2000.0;
  };
  const auto rate = [lr](basin::index_t) { return lr; };
  std::vector<basin::gan::gan_record> records;
  if (st.sgd) {
    sgd_t og({beta1, 0, false}, generator_t::n_params), od({beta1, 0, false}, discriminator_t::n_params);
    records = basin::gan::train_gan(g, d, og, od, rate, rate, ring, o, check);
  } else {
    adam_t og({beta1, 0.999, 1e-8, 0}, generator_t::n_params), od({beta1, 0.999, 1e-8, 0}, discriminator_t::n_params);
    records = basin::gan::train_gan(g, d, og, od, rate, rate, ring, o, check);
  }
  res.finished = long(records.size());
  if (res.finished < st.steps) {
    // The losses stopped being finite at the last record's step: the generator covers nothing from
    // then on, and the snapshots it never reached are of its last (non-finite) state.
    res.finished = long(records.size()) - 1;
    const auto pts = basin::gan::generate_points(g, run_seed, 0, 2000);
    while (r == 0 && res.snapshots.size() < st.snap_steps.size() * 4000)
      res.snapshots.insert(res.snapshots.end(), pts.begin(), pts.end());
  }
  basin::h5::atomic_write(file, [&](basin::h5::file& f) {
    f.set_attr("/", "recipe", recipe);
    f.set_attr("/", "finished", std::int64_t(res.finished));
    f.write("modes", res.modes), f.write("quality", res.quality);
    f.write("occupancy", res.occupancy, {hsize_t(fine_checks), hsize_t(k)});
    f.write("snapshots", res.snapshots, {hsize_t(res.snapshots.size() / 4000), 2000, 2});
    f.write("generator_params", std::vector<float>(g.params.begin(), g.params.end()));
    f.write("discriminator_params", std::vector<float>(d.params.begin(), d.params.end()));
  });
  return res;
}

basin::plot::curve as_curve(const float* pts, std::size_t n, const std::string& label) {
  basin::plot::curve c{{}, {}, label};
  for (std::size_t i = 0; i < n; ++i)
    if (std::isfinite(pts[2 * i]) && std::isfinite(pts[2 * i + 1]))
      c.x.push_back(pts[2 * i]), c.y.push_back(pts[2 * i + 1]);
  if (c.x.empty()) c.x.push_back(0), c.y.push_back(0), c.label += " (not finite)";
  return c;
}

}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Draws alternating gradient steps orbiting the saddle of L(u, v) = u v and the prediction "
                            "step spiralling into it, then trains an MLP GAN on a ring of Gaussians with and without "
                            "prediction and draws the modes each covers over training; lists of --lr or --beta1 "
                            "compare settings.");
  settings st;
  st.steps = args.get("steps", 8000L, about{"training steps of each run, each a generator and a discriminator step"});
  st.batch = args.get("batch", 256L, about{"real samples and noise vectors per step"});
  const std::string optimizer = args.get("optimizer", std::string("adam"),
                                         about{"optimizer of both nets: adam or sgd (--beta1 then its momentum)"});
  st.sgd = optimizer == "sgd";
  const auto lrs = args.get_list<double>("lr", st.sgd ? "0.1" : "1e-3", "1e-3; 0.1 with --optimizer sgd",
                                         about{"learning rate of both nets; a list (1e-4,1e-3,...) trains each"});
  // Adam's beta1, or with --optimizer sgd its momentum (default none: plain SGD).
  const double default_beta1 = st.sgd ? 0.0 : 0.5;
  const auto beta1s = args.get_list<double>(
      "beta1", st.sgd ? "0" : "0.5", "0.5; with --optimizer sgd its momentum, 0",
      about{"Adam's beta1 of both nets, or SGD's momentum; a list trains each, every pair with --lr"});
  st.runs = args.get("runs", 4L, about{"runs of each setting and method, from different seeds, averaged"});
  st.seed = args.get("seed", std::uint64_t(1),
                     about{"seed of the first run (run r: seed + 1000 r) and of the real points plotted"});
  st.n_modes = args.get("modes", 8, about{"Gaussians on the ring (the talk's harder case: 100)"});
  st.radius = args.get("radius", 2.0, about{"radius of the circle the Gaussians' means lie on"});
  st.sigma = args.get("sigma", 0.02, about{"standard deviation of each Gaussian"});
  st.out =
      args.get("out", std::string("gan"),
               about{"folder the pictures are written to, the runs' HDF5 files under runs/ (a rerun reads them back)"});
  if (!args.done()) return 0;  // --help
  basin::require(optimizer == "adam" || optimizer == "sgd", "option --optimizer: expected adam or sgd, got '",
                 optimizer, "'");
  basin::require(st.steps >= 8, "option --steps: expected at least 8, got ", st.steps);
  basin::require(st.batch >= 1 && st.batch <= 1000000, "option --batch: expected 1 to 10^6 samples, got ", st.batch);
  basin::require(st.runs >= 1, "option --runs: expected at least 1, got ", st.runs);
  for (double lr : lrs)
    basin::require(std::isfinite(lr) && lr > 0 && lr < 1, "option --lr: expected learning rates in (0, 1), got ", lr);
  for (double b : beta1s)
    basin::require(std::isfinite(b) && b >= 0 && b < 1, "option --beta1: expected values in [0, 1), got ", b);
  basin::require(st.n_modes >= 1 && st.n_modes <= 10000, "option --modes: expected 1 to 10000 modes, got ", st.n_modes);
  basin::require(st.radius > 0 && st.sigma > 0 && std::isfinite(st.radius) && std::isfinite(st.sigma),
                 "options --radius and --sigma: expected positive numbers, got ", st.radius, " and ", st.sigma);
  const std::string& out = st.out;
  basin::make_folder(out, "option --out");
  basin::make_folder(out + "/runs", "option --out");

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
  const auto ring = basin::gan::mixture::ring(st.n_modes, st.radius, st.sigma);
  const std::string ring_name = std::to_string(st.n_modes) + " Gaussians";
  if (st.n_modes > 1) {
    const double gap = 2 * st.radius * std::sin(3.14159265358979323846 / st.n_modes);
    std::printf("ring of %d Gaussians, radius %g, sigma %g: neighbouring modes %.3g apart (%.1f sigma)\n", st.n_modes,
                st.radius, st.sigma, gap, gap / st.sigma);
  }
  const auto real = ring.sample(st.seed, 1u << 30, 2000);
  const auto real_curve = as_curve(real.data(), real.size() / 2, "real");
  // Checks at k steps / n (k = 1..n): the last one after the last step.
  for (long q = 1; q <= 8; ++q) st.checks.push_back(q * st.steps / 8);
  const long n_fine = std::min<long>(64, st.steps);
  for (long q = 1; q <= n_fine; ++q) st.fine.push_back(q * st.steps / n_fine);
  for (long q = 1; q <= 4; ++q)  // after 1/4, 1/2, 3/4 and all of the steps
    if (q * st.steps / 4 >= 1 && (st.snap_steps.empty() || st.snap_steps.back() != q * st.steps / 4))
      st.snap_steps.push_back(q * st.steps / 4);
  const long checks = long(st.checks.size());
  // Every (learning rate, beta1) pair, beta1 varying fastest.
  std::vector<std::array<double, 2>> pairs;
  for (double lr : lrs)
    for (double b : beta1s) pairs.push_back({lr, b});
  const bool sweep = pairs.size() > 1;
  // [pair][method]: the mean over runs of the modes covered and the share of good samples at the end.
  std::vector<std::array<double, 2>> end_modes(pairs.size()), end_quality(pairs.size());
  for (std::size_t li = 0; li < pairs.size(); ++li) {
    const double lr = pairs[li][0], beta1 = pairs[li][1];
    // Files and pictures carry beta1 unless it is the default 0.5 (the names runs had before --beta1);
    // SGD's start with sgd_ and carry the momentum unless it is 0.
    const char* beta_name = st.sgd ? "momentum" : "beta1";
    const std::string named = std::string(st.sgd ? "sgd_" : "") + "lr" + basin::text(lr) +
                              (beta1 != default_beta1 ? "_" + std::string(beta_name) + "-" + basin::text(beta1) : "");
    const std::string tag = sweep || st.sgd ? named + "_" : "";
    const std::string what = basin::text(st.sgd ? "SGD " : "", "lr ", lr, ", ", beta_name, " ", beta1);
    std::vector<std::vector<double>> modes(2, std::vector<double>(std::size_t(checks), 0.0)), quality = modes;
    std::vector<basin::plot::scatter_panel> snapshots;  // the first run of each method
    for (int method = 0; method < 2; ++method) {
      const bool predict = method == 1;
      const char* name = predict ? "prediction" : "alternating";
      for (long r = 0; r < st.runs; ++r) {
        const std::string file = out + "/runs/" + named + "_" + name + "_" + std::to_string(r) + ".h5";
        std::printf("GAN on %s, %s steps, lr %g, %s %g, run %ld of %ld (%s, batch %ld)%s\n", ring_name.c_str(), name,
                    lr, beta_name, beta1, r + 1, st.runs, st.sgd ? "SGD" : "Adam", st.batch,
                    basin::path_exists(file, "08_gan_prediction") ? ": read back" : "");
        std::fflush(stdout);
        const auto res = one_run(st, ring, lr, beta1, predict, r, file);
        if (res.finished < st.steps)
          std::printf("  the losses stopped being finite after step %ld: no modes from then on\n", res.finished);
        for (long c = 0; c < checks; ++c) {
          modes[method][std::size_t(c)] += res.modes[std::size_t(c)] / double(st.runs);
          quality[method][std::size_t(c)] += res.quality[std::size_t(c)] / double(st.runs);
        }
        if (r > 0) continue;
        for (std::size_t q = 0; q < st.snap_steps.size(); ++q)
          snapshots.push_back({{real_curve, as_curve(res.snapshots.data() + q * 4000, 2000, "generated")},
                               std::string(name) + ", step " + std::to_string(st.snap_steps[q])});
        basin::plot::style ss;
        ss.title = basin::text("GAN on ", ring_name, " after ", st.steps, " steps: ", name, ", ", what, " (run 1)");
        ss.xlabel = "x";
        ss.ylabel = "y";
        basin::plot::scatter(
            {real_curve, as_curve(res.snapshots.data() + (st.snap_steps.size() - 1) * 4000, 2000, "generated")},
            out + "/gan_" + tag + name, ss, ring.means);
        // Which modes the samples occupy over training: each mode a band from m - 0.4 to m + 0.4
        // (two grid rows of its value, so that the map's cells do not blend neighbouring modes).
        basin::plot::grid2d occ;
        const std::size_t k = std::size_t(st.n_modes);
        for (const auto step : st.fine) occ.x.push_back(double(step));
        for (std::size_t m = 0; m < k; ++m) occ.y.push_back(double(m) - 0.4), occ.y.push_back(double(m) + 0.4);
        occ.z.resize(occ.x.size() * occ.y.size());
        for (std::size_t c = 0; c < occ.x.size(); ++c)
          for (std::size_t j = 0; j < occ.y.size(); ++j)
            occ.z[c * occ.y.size() + j] = 100 * res.occupancy[c * k + j / 2];
        occ.name = "share_of_samples";
        basin::plot::style os;
        os.title = "Samples at each mode over training: " + std::string(name) + ", " + what + " (run 1)";
        os.xlabel = "step";
        os.ylabel = "mode";
        os.zlabel = "% of samples within 3 sigma of the mode";
        if (st.n_modes > 1) basin::plot::heatmap(occ, out + "/gan_" + tag + "modes_" + name, os);
      }
      end_modes[li][std::size_t(method)] = modes[method].back();
      end_quality[li][std::size_t(method)] = quality[method].back();
    }
    basin::plot::style ps;
    ps.title =
        "GAN on " + ring_name + ", " + what + ", run 1: alternating steps (top) and prediction (bottom) over training";
    ps.xlabel = "x";
    ps.ylabel = "y";
    ps.width = 1600;
    ps.height = 900;
    basin::plot::scatter_panels(snapshots, int(snapshots.size() / 2), out + "/gan_" + tag + "over_training", ps,
                                ring.means);
    std::printf("\n%s, mean over %ld runs: modes covered (of %d) and %% of samples within 3 sigma of a mode\n",
                what.c_str(), st.runs, st.n_modes);
    std::printf("   step   alternating          prediction\n");
    for (long c = 0; c < checks; ++c)
      std::printf("  %6ld   %4.1f modes %5.1f%%   %4.1f modes %5.1f%%\n", long(st.checks[std::size_t(c)]),
                  modes[0][std::size_t(c)], 100 * quality[0][std::size_t(c)], modes[1][std::size_t(c)],
                  100 * quality[1][std::size_t(c)]);
    std::printf("\n");
  }

  // 3. The settings side by side: against beta1 when several are given (a curve per learning rate
  // and method), else against the learning rate.
  if (sweep) {
    std::printf("after %ld steps, mean over %ld runs:\n      lr   %8s   alternating          prediction\n", st.steps,
                st.runs, st.sgd ? "momentum" : "beta1");
    const bool by_lr = beta1s.size() == 1;
    const auto& series = by_lr ? beta1s : lrs;
    std::vector<basin::plot::curve> mc(2 * series.size()), qc(2 * series.size());
    for (std::size_t v = 0; v < series.size(); ++v)
      for (std::size_t method = 0; method < 2; ++method) {
        const std::string label = std::string(method ? "prediction" : "alternating") +
                                  (!by_lr && series.size() > 1 ? ", lr " + basin::text(series[v]) : "");
        mc[2 * v + method].label = label + ": modes covered";
        qc[2 * v + method].label = label + ": % near a mode";
      }
    for (std::size_t li = 0; li < pairs.size(); ++li) {
      std::printf("  %6g   %8g   %4.1f modes %5.1f%%   %4.1f modes %5.1f%%\n", pairs[li][0], pairs[li][1],
                  end_modes[li][0], 100 * end_quality[li][0], end_modes[li][1], 100 * end_quality[li][1]);
      const double x = by_lr ? pairs[li][0] : pairs[li][1];
      const std::size_t v =
          std::size_t(std::find(series.begin(), series.end(), pairs[li][by_lr ? 1 : 0]) - series.begin());
      for (std::size_t method = 0; method < 2; ++method) {
        mc[2 * v + method].x.push_back(x), mc[2 * v + method].y.push_back(end_modes[li][method]);
        qc[2 * v + method].x.push_back(x), qc[2 * v + method].y.push_back(100 * end_quality[li][method]);
      }
    }
    basin::plot::style ls;
    ls.title = "GAN on " + ring_name + " after " + std::to_string(st.steps) + " steps, mean of " +
               std::to_string(st.runs) + " runs" +
               (by_lr             ? (st.sgd ? ", SGD, momentum " : ", beta1 ") + basin::text(beta1s[0])
                : lrs.size() == 1 ? ", lr " + basin::text(lrs[0])
                                  : "");
    ls.xlabel = by_lr    ? std::string("learning rate (") + (st.sgd ? "SGD" : "Adam") + ", both nets)"
                : st.sgd ? "SGD's momentum (both nets)"
                         : "beta1 (Adam's momentum, both nets)";
    ls.zlabel = "modes covered (of " + std::to_string(st.n_modes) + ")";
    ls.y2label = "% of samples within 3 sigma of a mode";
    ls.log_x = by_lr;
    // The setting held fixed is in the name unless it is the default, as in the runs' names, so
    // that a sweep over --lr at --beta1 0.9 does not overwrite the one at 0.5 in the same --out;
    // a sweep over beta1 with several rates (one curve each) names the first and the last.
    const double default_lr = st.sgd ? 0.1 : 1e-3;
    std::string held;
    if (by_lr && beta1s[0] != default_beta1)
      held = basin::text("_", st.sgd ? "momentum" : "beta1", "-", beta1s[0]);
    else if (!by_lr && lrs.size() > 1)
      held = basin::text("_lr", lrs.front(), "-", lrs.back());
    else if (!by_lr && lrs[0] != default_lr)
      held = basin::text("_lr", lrs[0]);
    basin::plot::curves(mc, qc,
                        out + (st.sgd ? "/gan_sgd" : "/gan") +
                            (by_lr    ? "_lr_sweep"
                             : st.sgd ? "_momentum_sweep"
                                      : "_beta1_sweep") +
                            held,
                        ls);
  }
  std::printf("wrote %s/{bilinear, gan_*}.png (+ .svg, .dat, .gp) and the runs in %s/runs\n", out.c_str(), out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "08_gan_prediction: %s\n", e.what());
  return 1;
}
