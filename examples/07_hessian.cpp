// examples/07_hessian.cpp — is the basin convex? The Hessian's extreme eigenvalues over a plane.
//
// The talk's convexity maps (Li et al. 2018, section 6, fig. 7): a 2-D filter-normalized slice
// can look convex while the loss curves downward in one of the 10^5 directions not drawn. At
// every point of the plane this computes the largest and the most negative eigenvalue of the
// Hessian (Lanczos on Hessian-vector products; landscape/hessian.hpp) and maps
// |lambda_min / lambda_max|: near 0 (dark) the loss is convex there in every direction, large
// (bright) it is not. Skip connections keep the region around a ResNet's minimizer convex; the
// same net without them (--net plain20) shows non-convex regions nearby (the paper's effect
// grows with depth: --net plain56 against --net resnet56 shows it after 2 epochs, README). It also prints the curvature
// the plane itself sees at its centre against the Hessian's extremes (landscape/hessian.hpp's plane_curvature): a
// random plane averages the spectrum and hides its extremes. Writes into <out>:
//   <net>.h5                        the trained checkpoint (reused when present)
//   <net>_directions.h5             the two filter-normalized directions
//   <net>_hessian.h5                max_eig, min_eig on the grid (the reference tool's names)
//   <net>_eig_ratio.{png,svg}       the map of |min_eig / max_eig|
//   <net>_max_eig.{png,svg}         the map of max_eig (sharpness)
// Each point is written as soon as it is computed: interrupt it and run it again to finish.
//
// --checkpoint FILE maps a net trained elsewhere instead of training one: a basin checkpoint of
// --net (01_train's, 09_architectures', plot_surface's inputs) or a PyTorch one converted by
// examples/torch_to_basin.py (the reference tool's plot_hessian_eigen.py --model_file). The files
// are then named after FILE's stem (<out>/<stem>_hessian.h5, ...) and nothing is trained.
//
//   07_hessian [--net resnet8|plain8|resnet20|plain20|resnet56|plain56] [--train-epochs 2] [--train-subset 10000]
//              [--checkpoint FILE] [--grid 7] [--range 1] [--hessian-subset 256] [--iterations 30]
//              [--tolerance 1e-2] [--seed 1] [--data /usr/share/datasets/fashion-mnist] [--out hessian]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/direction_file.hpp"
#include "basin/landscape/hessian.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/surface.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

namespace fs = std::filesystem;

struct settings {
  std::string net, out;
  std::string checkpoint;  // a given net's file; empty: train one
  int train_epochs = 2, grid = 7;
  double range = 1;
  basin::hessian_options hessian;
  std::uint64_t seed = 1;
};

template <class Net>
void run(const settings& s, const basin::dataset& train_set, const basin::dataset& probe) {
  using model_t = basin::model<Net, float, basin::backend::host>;
  model_t model(s.seed);
  const bool given = !s.checkpoint.empty();
  const auto ckpt = given ? s.checkpoint : s.out + "/" + s.net + ".h5";
  // The files' stem: the net's name, or the given checkpoint's.
  const auto name = given ? fs::path(s.checkpoint).stem().string() : s.net;
  if (given) {
    const auto info = basin::load_checkpoint(model, ckpt);
    std::printf("loaded %s: %s%s\n", ckpt.c_str(), info.from_torch ? "a PyTorch state_dict" : info.architecture.c_str(),
                info.epoch >= 0 ? (", epoch " + std::to_string(info.epoch)).c_str() : "");
  } else if (!basin::path_exists(ckpt, "option --out"))
    std::printf("training %s on %lld Fashion-MNIST images for %d epoch(s)\n", s.net.c_str(),
                (long long)train_set.size(), s.train_epochs);
  if (!given) {
    basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, 5e-4, true}, model_t::n_params);
    basin::train_options o;
    o.epochs = s.train_epochs;
    o.seed = s.seed;
    basin::load_or_train(model, opt, basin::optim::cosine_lr{0.1, double(s.train_epochs)}, train_set, o, ckpt,
                         s.net + ", SGD lr 0.1 cosine, Nesterov, wd 0.0005");
  }
  // The minimizer's own curvature first: what the map is centred on.
  const auto center = basin::hessian_extremes(model, probe, s.hessian);
  std::printf(
      "at the minimizer (%lld images): loss %.4f, lambda_max %.4g, lambda_min %.4g, |min/max| %.4f "
      "(%d Hessian-vector products%s)\n",
      (long long)probe.size(), center.loss, center.max_eig, center.min_eig, std::fabs(center.min_eig / center.max_eig),
      center.iterations, center.converged ? "" : ", not converged");

  const basin::direction_options dopt{basin::normalization::filter, true, false};
  auto dx = basin::random_direction(model, s.seed, 0, dopt);
  auto dy = basin::random_direction(model, s.seed, 1, dopt);
  const auto dir_file = s.out + "/" + name + "_directions.h5";
  // What the plane itself sees at its centre: its curvatures per unit length in weight space
  // (Rayleigh quotients of the Hessian, so between lambda_min and lambda_max). A random plane
  // averages the spectrum; the talk: "when [we] do these dimensionality reductions you actually
  // compress the condition number".
  const auto pc = basin::plane_curvature(model, probe, dx, dy, s.hessian);
  std::printf("the plane's own curvature at the minimizer: %.4g and %.4g", pc.curvature_max, pc.curvature_min);
  if (pc.curvature_min > 0)
    std::printf(" (their ratio %.3g); lambda_max is %.3g times the plane's largest: the plane sees a round bowl\n",
                pc.curvature_max / pc.curvature_min, center.max_eig / pc.curvature_max);
  else
    std::printf(" (lambda_max %.4g): the plane curves %s\n", center.max_eig,
                pc.curvature_max > 0 ? "down in one direction" : "down in every direction");
  basin::surface_options so;
  so.x = basin::linspace(-s.range, s.range, s.grid);
  so.y = so.x;
  so.dir_file = dir_file;
  so.on_ready = [&] { basin::save_directions(dir_file, dx, &dy, dopt, s.seed); };  // once the file is accepted
  // A given checkpoint's weights are guarded by the surface file's origin digest; its path as typed
  // (./a.h5 or a.h5) does not matter.
  so.settings = "hessian checkpoint=" + (given ? std::string("given") : ckpt) + " seed=" + std::to_string(s.seed) +
                " images=" + std::to_string(probe.size()) + " iterations=" + std::to_string(s.hessian.max_iterations) +
                " tolerance=" + basin::text(s.hessian.tolerance);
  const auto file = s.out + "/" + name + "_hessian.h5";
  const basin::hessian_eigenvalues eig{&probe, s.hessian};
  const auto st = basin::sweep(model, dx, &dy, file, so, eig.names(), eig);
  std::printf("hessian map: %lld points computed now, %lld already in %s (%.1f s)\n", (long long)st.computed,
              (long long)st.skipped, file.c_str(), st.seconds);

  auto f = basin::h5::file::open(file);
  const auto mx = basin::surface_values(f, "max_eig"), mn = basin::surface_values(f, "min_eig");
  const auto ratio = basin::eigenvalue_ratio(mn, mx);
  int convex = 0, missing = 0;
  double largest = 0;
  for (std::size_t i = 0; i < ratio.size(); ++i) {
    const double r = ratio[i];
    if (std::isnan(r)) {  // lambda_max 0, or a point whose loss is not finite (recorded as NaN)
      ++missing;
      continue;
    }
    convex += mn[i] >= 0 || r < 0.05;  // no negative curvature found, or little beside the positive
    largest = std::max(largest, r);
  }
  std::printf("convex or nearly (lambda_min >= 0 or |min/max| < 0.05) at %d of %zu points; largest |min/max| %.3f",
              convex, ratio.size() - std::size_t(missing), largest);
  if (missing) std::printf(" (%d points without a ratio: not finite, or lambda_max 0)", missing);
  std::printf("\n");
  basin::plot::style ps;
  ps.xlabel = "direction 1";
  ps.ylabel = "direction 2";
  const auto who = given ? s.net + " (" + name + ")" : s.net;
  ps.title = who + " on Fashion-MNIST: |lambda_min / lambda_max| of the Hessian";
  ps.zlabel = "|lambda_min / lambda_max|";
  basin::plot::heatmap({so.x, so.y, ratio, "eig_ratio"}, s.out + "/" + name + "_eig_ratio", ps);
  ps.title = who + " on Fashion-MNIST: lambda_max of the Hessian (sharpness)";
  ps.zlabel = "lambda_max";
  basin::plot::heatmap({so.x, so.y, mx, "max_eig"}, s.out + "/" + name + "_max_eig", ps);
  std::printf("wrote %s/%s{%s_directions.h5, _hessian.h5, _eig_ratio.png, _max_eig.png} (+ .svg)\n", s.out.c_str(),
              name.c_str(), given ? "" : ".h5, ");
}

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Trains a net on Fashion-MNIST (or loads --checkpoint) and maps the Hessian's "
                            "|lambda_min / lambda_max| and lambda_max over a filter-normalized plane around the "
                            "minimizer: where the basin is convex in every direction.");
  settings s;
  s.net =
      args.get("net", std::string("resnet8"),
               about{"the net trained (or --checkpoint's): resnet8, plain8, resnet20, plain20, resnet56 or plain56"});
  s.train_epochs = args.get("train-epochs", 2, about{"epochs of SGD training (not with --checkpoint)"});
  s.checkpoint = args.get("checkpoint", std::string(),
                          about{"a checkpoint of --net (basin's, or PyTorch's converted) to map instead of training"});
  const long train_subset = args.get("train-subset", 10000L,
                                     about{"training images used (the first N; the Hessian takes the first of these)"});
  s.grid = args.get("grid", 7, about{"grid points along each axis of the plane"});
  s.range = args.get("range", 1.0, about{"half-width of the plane along each direction, in filter-normalized units"});
  const long hessian_subset =
      args.get("hessian-subset", 256L, about{"training images the Hessian is computed on (the first N)"});
  s.hessian.max_iterations =
      args.get("iterations", 30, about{"Lanczos steps (Hessian-vector products) at most per point"});
  s.hessian.tolerance =
      args.get("tolerance", 1e-2,
               about{"Lanczos's residual bound for both extremes, relative to max(|lambda_max|, |lambda_min|)"});
  s.seed = args.get("seed", std::uint64_t(1),
                    about{"seed of the initialization, the shuffling, the directions and Lanczos's start vector"});
  s.hessian.seed = s.seed;
  const std::string data_dir = basin::examples::fashion_mnist_dir(args);
  s.out = args.get("out", std::string("hessian"),
                   about{"folder the checkpoint, directions, HDF5 files and pictures are written to"});
  if (!args.done()) return 0;  // --help
  basin::require(train_subset >= 1, "option --train-subset: expected at least 1 image, got ", train_subset);
  basin::require(hessian_subset >= 1, "option --hessian-subset: expected at least 1 image, got ", hessian_subset);
  basin::require(s.grid >= 2 && s.grid <= 10000, "option --grid: expected 2 to 10000 points per axis (",
                 "at most 10^8 in all), got ", s.grid);
  basin::require(s.range > 0 && std::isfinite(s.range), "option --range: expected a positive number, got ", s.range);
  basin::require(s.hessian.max_iterations >= 2 && s.hessian.max_iterations <= 1000,
                 "option --iterations: expected 2 to 1000 Lanczos steps (each keeps a vector of every weight), got ",
                 s.hessian.max_iterations);
  basin::require(s.hessian.tolerance > 0 && std::isfinite(s.hessian.tolerance),
                 "option --tolerance: expected a positive number, got ", s.hessian.tolerance);
  basin::require(s.train_epochs >= 1, "option --train-epochs: expected at least 1, got ", s.train_epochs);
  {  // the net named before any data is read
    const std::vector<std::string> nets{"resnet8", "plain8", "resnet20", "plain20", "resnet56", "plain56"};
    basin::require(std::find(nets.begin(), nets.end(), s.net) != nets.end(),
                   "option --net: expected resnet8, plain8, resnet20, plain20, resnet56 or plain56, got '", s.net, "'");
  }
  if (!s.checkpoint.empty()) {
    basin::require(basin::path_exists(s.checkpoint, "option --checkpoint"), "option --checkpoint: no file '",
                   s.checkpoint, "'");
    basin::require(!args.has("train-epochs"), "option --train-epochs: nothing is trained with --checkpoint");
  }

  auto train_all = basin::read_fashion_mnist(data_dir, true);
  basin::normalize(train_all, basin::compute_channel_stats(train_all));
  const auto train_set = basin::first_images(train_all, train_subset);
  const auto probe = basin::first_images(train_set, hessian_subset);
  basin::make_folder(s.out, "option --out");
  using basin::fashion_input;
  if (s.net == "resnet8")
    run<basin::resnet<8, fashion_input>>(s, train_set, probe);
  else if (s.net == "plain8")
    run<basin::plain<8, fashion_input>>(s, train_set, probe);
  else if (s.net == "resnet20")
    run<basin::resnet20<fashion_input>>(s, train_set, probe);
  else if (s.net == "plain20")
    run<basin::plain20<fashion_input>>(s, train_set, probe);
  else if (s.net == "resnet56")
    run<basin::resnet56<fashion_input>>(s, train_set, probe);
  else if (s.net == "plain56")
    run<basin::plain56<fashion_input>>(s, train_set, probe);
  else
    basin::fail("option --net: expected resnet8, plain8, resnet20, plain20, resnet56 or plain56, got '", s.net, "'");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "07_hessian: %s\n", e.what());
  return 1;
}
