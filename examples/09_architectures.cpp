// examples/09_architectures.cpp — how architecture shapes the landscape: skip connections, depth
// and DenseNet's dense connections (Li et al. 2018, figs. 5 and 6; the talk's "DenseNet ... is
// basically a parabola").
//
// Each net is trained with the same recipe on Fashion-MNIST (SGD, momentum 0.9, Nesterov, weight
// decay 5e-4, cosine learning rate from 0.1), then the training loss is swept over the same
// filter-normalized plane through its minimizer (biases and batch norm left out, as the paper).
// The contour pictures share their levels, and landscapes.png puts them side by side (the talk's
// figure: one panel per net, each with its shattering contour); one more picture puts the slices
// along direction 1 together. A table gives test accuracy, the loss at the centre and how convex the plane
// looks (landscape/convexity.hpp): the share of points within radius 0.5 and 1 where the slice
// curves down in some direction, and the number of local minima on the grid. The contour maps
// draw the loss at the random initialization (the talk's "shattering contour", about ln 10 for
// 10 classes): where the chaotic region sinks below it, training from a random start fails; the
// table gives that loss and the share of the plane below it. Each net's loss is also drawn along
// the line from its random initialization to its minimizer (init_lines.png), the kind of 1-D plot
// the talk warns about ("if I pick special directions ... it always goes down"): the table counts
// the steps where the loss rises walking towards the minimizer, along that line and along the
// random direction 1.
//
//   09_architectures [--nets resnet20,plain20,densenet22] [--epochs 2] [--train-subset 20000]
//                    [--grid 17] [--range 1] [--probe 500] [--test-subset 2000] [--seed 1]
//                    [--data /usr/share/datasets/fashion-mnist] [--out architectures]
// Nets: resnet8, plain8, resnet20, plain20, resnet56, plain56, resnet110, plain110, densenet22
// (DenseNet-BC, k = 12, 3 blocks of 3), plain56_w2, plain56_w4, resnet56_w2 and resnet56_w4 (the
// 56-layer nets with 2x and 4x the channels in every layer). `--nets resnet56,plain56,resnet110,
// plain110` is the paper's depth comparison (about 3x and 6x resnet20's time per net), `--nets
// plain8,resnet8` the talk's shallow end ("a nine layer VGG-like network ... a pretty well behaved
// convex function");
// `--nets plain56,plain56_w2,plain56_w4` its width comparison (the talk: "if we double the width
// you'll see that we go from a fairly chaotic landscape back to a fairly well-behaved one"; each
// doubling costs about 4x the time: on two cores, try --train-subset 5000 --grid 11 --probe 200),
// and resnet56, resnet56_w2, resnet56_w4 the same with skip connections (the paper's figure 6).
//
// Writes <out>/<net>.h5 (the trained checkpoint: a rerun loads it instead of training again),
// <net>_directions.h5, <net>_surface.h5 (resumed when interrupted), <net>_contour.png,
// <net>_3d.png, <net>_init_line.h5, landscapes.png, slices.png, init_lines.png and summary.csv.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <sstream>
#include <string>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/convexity.hpp"
#include "basin/landscape/direction_file.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "basin/plot/surface.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

namespace fs = std::filesystem;

namespace {
struct settings {
  int epochs = 2, grid = 17;
  long train_subset = 20000, probe = 500, test_subset = 2000;
  double range = 1;
  std::uint64_t seed = 1;
  std::string out;
};
struct result {
  std::string net;
  long params = 0;
  double accuracy = 0, center_loss = 0, initial_loss = 0, below_initial = 0, seconds_train = 0, seconds_sweep = 0;
  basin::slice_convexity_result inner, outer;
  basin::plot::grid2d surface;
  basin::plot::curve init_line;  // training loss from the initialization (t = 0) to the minimizer (t = 1)
  int init_rises = 0, slice_rises = 0;
};

// Steps of a line, walked towards its minimizer, where the loss goes up instead of down (by more
// than 1%, above the flat stretches' noise): 0 on a line that only descends. ys from the far end
// to the minimizer. A step from or to a point whose loss is not finite (logits that overflowed)
// is not counted.
int rises(const std::vector<double>& ys) {
  int n = 0;
  for (std::size_t i = 1; i < ys.size(); ++i)
    n += std::isfinite(ys[i]) && std::isfinite(ys[i - 1]) && ys[i] > ys[i - 1] * 1.01;
  return n;
}

template <class Net>
result run(const std::string& name, const settings& s, const basin::dataset& train_set, const basin::dataset& probe,
           const basin::dataset& test_probe) {
  using model_t = basin::model<Net, float, basin::backend::host>;
  result r;
  r.net = name;
  r.params = long(model_t::n_params);
  model_t model(s.seed);
  // The talk's "shattering contour": the loss at the random initialization (about ln 10 = 2.30 for
  // 10 classes), drawn on the contour map; the share of the plane below it. As 03_surface: batch
  // statistics (train mode) on a fresh copy, whose running statistics it may move.
  {
    model_t fresh(s.seed);
    r.initial_loss = basin::evaluate(fresh, probe, 500, basin::mode::train).loss;
  }
  const std::string ckpt = s.out + "/" + name + ".h5";
  if (!basin::path_exists(ckpt, "option --out"))
    std::printf("%s: %ld parameters, training %d epoch(s) on %lld images\n", name.c_str(), r.params, s.epochs,
                (long long)train_set.size());
  {
    basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, 5e-4, true}, model_t::n_params);
    basin::train_options o;
    o.epochs = s.epochs;
    o.seed = s.seed;
    const auto t0 = std::chrono::steady_clock::now();
    const auto run = basin::load_or_train(model, opt, basin::optim::cosine_lr{0.1, double(s.epochs)}, train_set, o,
                                          ckpt, name + ", SGD lr 0.1 cosine, Nesterov, wd 0.0005");
    if (!run.history.empty())
      r.seconds_train = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  r.accuracy = basin::evaluate(model, test_probe).accuracy;

  const basin::direction_options dopt{basin::normalization::filter, true, false};
  auto dx = basin::random_direction(model, s.seed, 0, dopt);
  auto dy = basin::random_direction(model, s.seed, 1, dopt);
  const auto dir_file = s.out + "/" + name + "_directions.h5";
  basin::surface_options so;
  so.x = so.y = basin::linspace(-s.range, s.range, s.grid);
  so.dir_file = dir_file;
  so.on_ready = [&] { basin::save_directions(dir_file, dx, &dy, dopt, s.seed); };  // once the file is accepted
  so.settings = "net=" + name + " epochs=" + std::to_string(s.epochs) + " seed=" + std::to_string(s.seed) +
                " probe=" + std::to_string(probe.size()) + " norm=filter ignore=biasbn";
  const auto surf_file = s.out + "/" + name + "_surface.h5";
  basin::loss_accuracy metrics{&probe, nullptr, 500};
  const auto st = basin::sweep(model, dx, &dy, surf_file, so, metrics.names(), metrics);
  r.seconds_sweep = st.seconds;

  auto f = basin::h5::file::open(surf_file);
  r.surface = basin::plot::grid2d{so.x, so.y, basin::surface_values(f, "train_loss"), "train_loss"};
  r.center_loss = r.surface.at(r.surface.nx() / 2, r.surface.ny() / 2);
  basin::index_t below = 0;
  for (basin::index_t i = 0; i < r.surface.nx(); ++i)
    for (basin::index_t j = 0; j < r.surface.ny(); ++j) below += r.surface.at(i, j) < r.initial_loss;
  r.below_initial = double(below) / double(r.surface.nx() * r.surface.ny());
  r.inner = basin::slice_convexity(r.surface, 0.5 * s.range);
  r.outer = basin::slice_convexity(r.surface, s.range);
  {  // the slice along direction 1, walked from both ends to the minimizer
    std::vector<double> left, right;
    for (basin::index_t i = 0; i <= r.surface.nx() / 2; ++i) left.push_back(r.surface.at(i, r.surface.ny() / 2));
    for (basin::index_t i = r.surface.nx() - 1; i >= r.surface.nx() / 2; --i)
      right.push_back(r.surface.at(i, r.surface.ny() / 2));
    r.slice_rises = rises(left) + rises(right);
  }

  // The line from the random initialization to the minimizer (Goodfellow, Vinyals, Saxe 2015),
  // the kind of 1-D picture the talk warns about: along the direction training took the loss
  // "always goes down", hiding the non-convexity that random directions show. Running statistics
  // move along with the weights; t = 0 is the initialization, 1 the minimizer.
  {
    model_t init(s.seed);
    auto toward_init = basin::difference(model, init, true);
    basin::surface_options lo;
    // a: 0 the minimizer, 1 the initialization (t = 1 - a); not beyond either, where the running
    // variances, moved in a straight line, could turn negative.
    lo.x = basin::linspace(0, 1, 17);
    lo.settings = so.settings + " line=initialization-to-minimizer";
    lo.progress = false;
    const auto line_file = s.out + "/" + name + "_init_line.h5";
    basin::sweep(model, toward_init, nullptr, line_file, lo, metrics.names(), metrics);
    const auto loss = basin::h5::file::open(line_file).read<double>("train_loss");
    r.init_line.label = name;
    for (std::size_t i = lo.x.size(); i-- > 0;) r.init_line.x.push_back(1 - lo.x[i]), r.init_line.y.push_back(loss[i]);
    r.init_rises = rises(r.init_line.y);  // t = 0 .. 1
  }

  basin::plot::style ps;
  ps.title = name + ": Fashion-MNIST training loss (filter-normalized directions)";
  ps.xlabel = "direction 1";
  ps.ylabel = "direction 2";
  ps.zlabel = "training loss";
  ps.highlight = r.initial_loss;
  ps.highlight_label = "loss at initialization";                         // the picture adds the value
  basin::plot::contour(r.surface, s.out + "/" + name + "_contour", ps);  // the reference tool's levels
  ps.log_z = true;
  ps.highlight = NAN;
  basin::plot::surface3d(r.surface, s.out + "/" + name + "_3d", ps);
  return r;
}

result run_named(const std::string& name, const settings& s, const basin::dataset& train_set,
                 const basin::dataset& probe, const basin::dataset& test_probe) {
  using namespace basin;
  if (name == "resnet20") return run<resnet20<fashion_input>>(name, s, train_set, probe, test_probe);
  if (name == "plain20") return run<plain20<fashion_input>>(name, s, train_set, probe, test_probe);
  if (name == "resnet56") return run<resnet56<fashion_input>>(name, s, train_set, probe, test_probe);
  if (name == "plain56") return run<plain56<fashion_input>>(name, s, train_set, probe, test_probe);
  if (name == "resnet110") return run<resnet110<fashion_input>>(name, s, train_set, probe, test_probe);
  if (name == "plain110") return run<plain110<fashion_input>>(name, s, train_set, probe, test_probe);
  if (name == "densenet22") return run<densenet22<fashion_input>>(name, s, train_set, probe, test_probe);
  if (name == "plain56_w2") return run<plain<56, fashion_input, 2>>(name, s, train_set, probe, test_probe);
  if (name == "plain56_w4") return run<plain<56, fashion_input, 4>>(name, s, train_set, probe, test_probe);
  if (name == "resnet56_w2") return run<resnet<56, fashion_input, 2>>(name, s, train_set, probe, test_probe);
  if (name == "resnet56_w4") return run<resnet<56, fashion_input, 4>>(name, s, train_set, probe, test_probe);
  if (name == "plain8") return run<plain<8, fashion_input>>(name, s, train_set, probe, test_probe);
  if (name == "resnet8") return run<resnet<8, fashion_input>>(name, s, train_set, probe, test_probe);
  fail("option --nets: unknown net '", name, "'");  // (main checks every name first)
}
constexpr const char* known_nets[] = {"resnet8",     "plain8",      "resnet20",  "plain20",    "resnet56",
                                      "plain56",     "resnet110",   "plain110",  "plain56_w2", "plain56_w4",
                                      "resnet56_w2", "resnet56_w4", "densenet22"};
}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Trains each net of --nets alike on Fashion-MNIST and draws its training loss over a "
                            "filter-normalized plane through its minimizer, side by side on shared contour levels with "
                            "the shattering contour, with the slices and the line from the initialization; a table "
                            "says how convex each plane looks.");
  settings s;
  const std::string nets = args.get(
      "nets", std::string("resnet20,plain20,densenet22"),
      about{"nets to compare, comma-separated: {plain,resnet}{8,20,56,110}, {plain,resnet}56_w{2,4}, densenet22"});
  s.epochs = args.get("epochs", 2, about{"epochs each net is trained (SGD, Nesterov, cosine learning rate from 0.1)"});
  s.train_subset = args.get("train-subset", 20000L, about{"training images used (the first N)"});
  s.grid = args.get("grid", 17, about{"grid points along each axis of the plane (odd, so the minimizer is one)"});
  s.range = args.get("range", 1.0, about{"the plane spans -range to range on each axis, in filter-normalized units"});
  s.probe =
      args.get("probe", 500L, about{"training images the loss at each point of the plane and the line is taken on"});
  s.test_subset = args.get("test-subset", 2000L, about{"test images the accuracy is measured on"});
  s.seed =
      args.get("seed", std::uint64_t(1), about{"seed of the initialization, the shuffling and the two directions"});
  const std::string data_dir = basin::examples::fashion_mnist_dir(args);
  s.out = args.get("out", std::string("architectures"),
                   about{"folder the checkpoints, HDF5 files and pictures are written to (a rerun reuses them)"});
  if (!args.done()) return 0;  // --help
  basin::require(s.epochs >= 1, "option --epochs: expected at least 1, got ", s.epochs);
  basin::require(s.grid >= 3 && s.grid % 2 == 1 && s.grid <= 9999,
                 "option --grid: expected an odd number of points (3 to 9999 a side, at most 10^8 in all) so that ",
                 "the minimizer is a grid point, got ", s.grid);
  basin::require(s.range > 0 && std::isfinite(s.range), "option --range: expected a positive number, got ", s.range);
  basin::require(s.train_subset >= 1, "option --train-subset: expected at least 1 image, got ", s.train_subset);
  basin::require(s.probe >= 1, "option --probe: expected at least 1 image, got ", s.probe);
  basin::require(s.test_subset >= 1, "option --test-subset: expected at least 1 image, got ", s.test_subset);
  std::vector<std::string> names;
  {
    std::stringstream list(nets);
    for (std::string n; std::getline(list, n, ',');)
      if (!n.empty()) names.push_back(n);
    basin::require(!names.empty(), "option --nets: expected a comma-separated list of nets, got '", nets, "'");
    std::string known;
    for (const char* k : known_nets) known += (known.empty() ? "" : ", ") + std::string(k);
    for (const auto& n : names)  // all of them before the first trains: a typo in the last costs nothing
      basin::require(std::find(std::begin(known_nets), std::end(known_nets), n) != std::end(known_nets),
                     "option --nets: unknown net '", n, "' (expected one of ", known, ")");
  }

  auto [train_all, test_all, stats] =
      basin::normalize_by_train(basin::read_fashion_mnist(data_dir, true), basin::read_fashion_mnist(data_dir, false));
  const auto train_set = basin::first_images(train_all, s.train_subset);
  const auto probe = basin::first_images(train_set, s.probe);
  const auto test_probe = basin::first_images(test_all, s.test_subset);
  basin::make_folder(s.out, "option --out");

  std::vector<result> results;
  for (const auto& n : names) results.push_back(run_named(n, s, train_set, probe, test_probe));

  // The slices along direction 1 (direction 2 = 0) of every net in one picture.
  std::vector<basin::plot::curve> slices;
  for (const auto& r : results) {
    basin::plot::curve c{r.surface.x, {}, r.net};
    for (basin::index_t i = 0; i < r.surface.nx(); ++i) c.y.push_back(r.surface.at(i, r.surface.ny() / 2));
    slices.push_back(c);
  }
  basin::plot::style cs;
  cs.title = "Training loss along direction 1 (filter-normalized) through each minimizer";
  cs.xlabel = "direction 1";
  cs.ylabel = "training loss";
  cs.log_z = true;
  basin::plot::curves(slices, {}, s.out + "/slices", cs);
  // The landscapes side by side, the talk's figure: one panel per net, the same contour levels,
  // each with its own shattering contour.
  {
    std::vector<basin::plot::contour_panel> panels;
    for (const auto& r : results) {
      char title[96];
      std::snprintf(title, sizeof title, "%s (%.2f%% test)", r.net.c_str(), r.accuracy);
      panels.push_back({r.surface, title, r.initial_loss});
    }
    const int n = int(panels.size()), columns = n <= 3 ? n : n == 4 ? 2 : 3, rows = (n + columns - 1) / columns;
    basin::plot::style ps;
    ps.title = "Training loss around each minimizer (filter-normalized directions, shared contour levels)";
    ps.xlabel = "direction 1";
    ps.ylabel = "direction 2";
    ps.highlight_label = "loss at initialization";
    ps.width = 470 * columns;
    ps.height = 450 * rows + 50;
    basin::plot::contour_panels(panels, columns, s.out + "/landscapes", ps);
  }
  std::vector<basin::plot::curve> init_lines;
  for (const auto& r : results) init_lines.push_back(r.init_line);
  cs.title = "Training loss from the initialization (t = 0) to the minimizer (t = 1)";
  cs.xlabel = "t";
  basin::plot::curves(init_lines, {}, s.out + "/init_lines", cs);

  std::ostringstream csv;  // (written whole at the end: basin::write_text)
  csv << "net,parameters,test_accuracy,center_loss,initial_loss,below_initial_share,nonconvex_share_r0.5,"
         "nonconvex_share_r1,local_minima,slice_rises,init_line_rises,train_seconds,sweep_seconds\n";
  std::printf("\n%-11s %10s %9s %8s %8s %9s %17s %15s %7s %6s %6s\n", "net", "params", "test acc", "loss(0)", "initial",
              "< initial", "non-convex r<=0.5", "non-convex r<=1", "minima", "rises", "path");
  for (const auto& r : results) {
    std::printf("%-11s %10ld %8.2f%% %8.4f %8.4f %8.1f%% %16.1f%% %14.1f%% %7lld %6d %6d\n", r.net.c_str(), r.params,
                r.accuracy, r.center_loss, r.initial_loss, 100 * r.below_initial, 100 * r.inner.share,
                100 * r.outer.share, (long long)r.outer.local_minima, r.slice_rises, r.init_rises);
    csv << r.net << ',' << r.params << ',' << r.accuracy << ',' << r.center_loss << ',' << r.initial_loss << ','
        << r.below_initial << ',' << r.inner.share << ',' << r.outer.share << ',' << r.outer.local_minima << ','
        << r.slice_rises << ',' << r.init_rises << ',' << r.seconds_train << ',' << r.seconds_sweep << '\n';
  }
  basin::write_text(s.out + "/summary.csv", csv.str(), "09_architectures: its summary");
  std::printf(
      "(test accuracy on %lld test images; loss and shape on %lld training images; radius in units of "
      "the filter-normalized directions, range %g; rises: steps where the loss goes up by more than 1%% walking "
      "towards the "
      "minimizer, along direction 1 from both ends (%d steps) and along the path from the initialization "
      "(16 steps))\n",
      (long long)test_probe.size(), (long long)probe.size(), s.range, 2 * (s.grid / 2));
  std::printf(
      "wrote %s/{<net>.h5, <net>_directions.h5, <net>_surface.h5, <net>_init_line.h5, <net>_contour.png, "
      "<net>_3d.png, landscapes.png, slices.png, init_lines.png, summary.csv}\n",
      s.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "09_architectures: %s\n", e.what());
  return 1;
}
