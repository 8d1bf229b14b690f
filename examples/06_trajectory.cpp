// examples/06_trajectory.cpp — where did the optimizer go? Training paths on their PCA planes.
//
// The talk's optimization-path figures (Li et al. 2018, section 7, fig. 10): train a small ResNet
// on Fashion-MNIST with a small and with a large batch, a checkpoint after every epoch; find the
// two principal directions of each path (the checkpoints relative to the final weights), project
// the path on them, sweep the loss over that plane and draw the path on its contour map. Then
// measure what the talk shows: with a small batch the path first runs "parallel to contours" (a
// large angle to the plane's steepest descent) and, "as soon as you drop the learning rate", turns
// and falls into the basin: the "90-degree kink"; the large batch is "immediately attracted" (small
// angles from the start, no kink). Each step's angle to the steepest descent on the map and its
// turn from the step before (path_steps, landscape/trajectory.hpp) are printed and drawn. It also
// prints how little of the path two random filter-normalized directions hold: the reason random
// planes show no path at all. Writes, the reference tool's way (projection.py, plot_2D.py), for
// each batch size B:
//   <out>/batch<B>/model_<epoch>.h5            checkpoints (epoch 0: the initialization)
//   <out>/batch<B>/directions.h5               pc1, pc2 and explained_variance_ratio_ etc.
//   <out>/batch<B>/directions.h5_proj_cos.h5   the projected path (proj_xcoord, proj_ycoord)
//   <out>/batch<B>/surface.h5                  the loss over the plane (train_loss, train_acc)
//   <out>/batch<B>/train_loss_contour.{png,svg}  the contour map with the path
//   <out>/batch<B>/surface_end.h5, train_loss_contour_end.{png,svg}  the same for the part of the
//                                              plane that the path covers from the first drop on
// and for all of them together
//   <out>/path_angles.{png,svg}                each step's angle to the steepest descent, per batch size
// Training is skipped when the final checkpoint exists, and resumes exactly after the last
// checkpoint (model and optimizer state) when an earlier run stopped part-way; the sweeps
// resume point by point.
//
//   06_trajectory [--epochs 30] [--train-subset 5000] [--batch-size 128,2048] [--optimizer sgd|adam]
//                 [--lr 0.1 (sgd) or 0.001 (adam)] [--wd 5e-4] [--grid 21]
//                 [--loss-subset 1000] [--seed 1] [--data /usr/share/datasets/fashion-mnist] [--out trajectory]
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/landscape/trajectory.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "basin/plot/surface.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

using model_t = basin::model<basin::resnet<8, basin::fashion_input>, float, basin::backend::host>;

namespace {

struct settings {
  int epochs = 30;
  std::string opt_name, out;
  double lr = 0.1, wd = 5e-4;
  int grid = 21;
  std::uint64_t seed = 1;
};

// One batch size's path: trained (or resumed, or read back), projected, swept and drawn.
struct path_result {
  long batch = 0;
  std::vector<std::array<double, 2>> xy;
  std::array<double, 2> explained{};
  basin::plot::grid2d loss, end;        // the map of the whole path, and of the path from the first drop on
  std::vector<basin::path_step> steps;  // descent_angle NaN where the map cannot resolve the step
  double test_accuracy = 0;
};

path_result one_path(const settings& st, long batch, const basin::dataset& train_set, const basin::dataset& probe,
                     const basin::dataset& test_set) {
  const std::string out = st.out + "/batch" + std::to_string(batch);
  basin::make_folder(out, "option --out");
  const auto ckpt = [&](int e) { return out + "/model_" + std::to_string(e) + ".h5"; };

  // 1. Train, one checkpoint per epoch (the reference tool's --save_epoch 1).
  model_t model(st.seed);
  // The path's first point: the initialization, written whenever training starts from scratch.
  bool started = false;
  for (int e = 1; e <= st.epochs; ++e) started = started || basin::path_exists(ckpt(e), "option --out");
  if (!started || !basin::path_exists(ckpt(0), "option --out")) basin::save_checkpoint(model, ckpt(0), 0);
  std::printf(
      "\ntraining resnet8 on %lld Fashion-MNIST images for %d epochs with %s (lr %g, weight decay %g, batch %ld), the "
      "learning rate / 10 at 50%% and 75%%\n",
      (long long)train_set.size(), st.epochs, st.opt_name.c_str(), st.lr, st.wd, batch);
  std::fflush(stdout);
  basin::train_options o;
  o.epochs = st.epochs;
  o.seed = st.seed;
  o.batch_size = batch;
  const basin::optim::step_lr schedule{st.lr, {st.epochs / 2, st.epochs * 3 / 4}, 0.1};
  // Model and optimizer state after every epoch: a rerun resumes exactly where this one stopped
  // (or trains nothing when the last epoch is on disk).
  const basin::resume_options resume{
      ckpt, basin::text("resnet8, ", st.opt_name, " lr ", st.lr, " / 10 at 50% and 75%, batch ", batch)};
  if (st.opt_name == "adam") {
    basin::optim::optimizer<basin::optim::adam, float, basin::backend::host> opt({0.9, 0.999, 1e-8, st.wd},
                                                                                 model_t::n_params);
    basin::train_resumable(model, opt, schedule, train_set, o, resume);
  } else {
    basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, st.wd, false}, model_t::n_params);
    basin::train_resumable(model, opt, schedule, train_set, o, resume);
  }
  basin::load_checkpoint(model, ckpt(st.epochs));
  path_result r;
  r.batch = batch;
  const auto final_eval = basin::evaluate(model, probe);
  r.test_accuracy = basin::evaluate(model, test_set).accuracy;
  std::printf("final weights: training loss %.4f, accuracy %.2f%% on %lld training images; test accuracy %.2f%%\n",
              final_eval.loss, final_eval.accuracy, (long long)probe.size(), r.test_accuracy);

  // 2. The path from the checkpoint files, its principal directions and its projection.
  basin::trajectory<model_t> path;
  for (int e = 0; e <= st.epochs; ++e) path.add_checkpoint(ckpt(e));
  const basin::pca_options po{true, false};  // biases and batch-norm parameters left out
  auto pca = basin::principal_directions(path, model, po);
  const auto dir_file = out + "/directions.h5";
  basin::save_pca_directions(dir_file, pca, po, path.size());
  r.xy = basin::project(path, model, pca.x, pca.y);
  r.explained = pca.explained_variance_ratio;
  basin::save_projection(basin::projection_file(dir_file, basin::projection_method::cos), r.xy,
                         basin::projection_method::cos);
  std::printf("principal directions of the %lld snapshots: pc1 holds %.1f%% of the path's variance, pc2 %.1f%%\n",
              (long long)path.size(), 100 * r.explained[0], 100 * r.explained[1]);
  auto r1 = basin::random_direction(model, st.seed, 0, {basin::normalization::filter, true, false});
  auto r2 = basin::random_direction(model, st.seed, 1, {basin::normalization::filter, true, false});
  std::printf("two random filter-normalized directions hold %.3f%% of it (%lld weights)\n",
              100 * basin::variance_in_plane(path, model, r1, r2, po), (long long)model_t::n_params);

  // 3. The loss over the plane around the path.
  std::vector<double> px, py;
  for (const auto& p : r.xy) px.push_back(p[0]), py.push_back(p[1]);
  basin::surface_options so;
  so.x = basin::covering_range(px, st.grid);
  so.y = basin::covering_range(py, st.grid);
  so.dir_file = dir_file;
  so.settings = "pca epochs=" + std::to_string(st.epochs) + " optimizer=" + st.opt_name +
                " batch=" + std::to_string(batch) + " seed=" + std::to_string(st.seed) +
                " train_subset=" + std::to_string(train_set.size()) + " loss_subset=" + std::to_string(probe.size());
  const auto surf_file = out + "/surface.h5";
  basin::loss_accuracy metrics{&probe, nullptr, 500};
  const auto sw = basin::sweep(model, pca.x, &pca.y, surf_file, so, metrics.names(), metrics);
  std::printf("surface: %lld points computed now, %lld already in %s (%.1f s)\n", (long long)sw.computed,
              (long long)sw.skipped, surf_file.c_str(), sw.seconds);
  auto f = basin::h5::file::open(surf_file);
  r.loss = {so.x, so.y, basin::surface_values(f, "train_loss"), "train_loss"};

  // 4. How the path moves over that map, epoch by epoch. The map knows the loss only at its grid
  // points: a step shorter than half a grid cell moves within what the map interpolates. After the
  // first drop the steps are far shorter than the cells of a map that holds the whole path, so the
  // part of the path from the drop on gets a second map of its own ("end"); a step's angle is taken
  // from the first map that resolves it, else printed with a '*' and not used.
  r.steps = basin::path_steps(r.xy, so.x, so.y, r.loss.z);
  const auto cell_of = [](const basin::surface_options& o) { return std::min(o.x[1] - o.x[0], o.y[1] - o.y[0]); };
  const double cell = cell_of(so);
  const std::size_t drop = std::size_t(st.epochs / 2);
  std::vector<std::array<double, 2>> tail(r.xy.begin() + std::ptrdiff_t(drop), r.xy.end());
  std::vector<double> tx, ty;
  for (const auto& p : tail) tx.push_back(p[0]), ty.push_back(p[1]);
  basin::surface_options end = so;
  end.x = basin::covering_range(tx, st.grid);
  end.y = basin::covering_range(ty, st.grid);
  end.settings = so.settings + " end_from_epoch=" + std::to_string(drop);
  const auto end_file = out + "/surface_end.h5";
  const auto sw_end = basin::sweep(model, pca.x, &pca.y, end_file, end, metrics.names(), metrics);
  std::printf("the path from epoch %zu on, on its own map: %lld points computed now, %lld already in %s (%.1f s)\n",
              drop, (long long)sw_end.computed, (long long)sw_end.skipped, end_file.c_str(), sw_end.seconds);
  r.end = {end.x, end.y, basin::surface_values(end_file, "train_loss"), "train_loss"};
  const auto end_steps = basin::path_steps(tail, end.x, end.y, r.end.z);
  const double end_cell = cell_of(end);
  std::printf("  epoch  lr        position on the plane   step   slope  angle to steepest descent   turn\n");
  bool any_unresolved = false, any_end = false;
  for (std::size_t k = 0; k < r.xy.size(); ++k) {
    char rate[32] = "";  // none beside the last checkpoint: no step starts there
    if (k < r.steps.size()) std::snprintf(rate, sizeof rate, "%g", schedule(double(k)));
    std::printf("  %5zu  %-8s (%8.3f, %8.3f)", k, rate, r.xy[k][0], r.xy[k][1]);
    if (k < r.steps.size()) {
      auto& sk = r.steps[k];
      char mark = ' ';
      if (sk.length < cell / 2) {
        if (k >= drop && sk.length >= end_cell / 2) {
          sk.slope = end_steps[k - drop].slope, sk.descent_angle = end_steps[k - drop].descent_angle;
          mark = 'e', any_end = true;
        } else {
          mark = '*', any_unresolved = true;
        }
      }
      std::printf("  %6.3f %6.3f %23.1f deg %c %5.1f deg", sk.length, sk.slope, sk.descent_angle, mark, sk.turn);
      if (mark == '*') sk.descent_angle = std::nan("");
    }
    std::printf("\n");
  }
  if (any_end)
    std::printf("  e on the map of the path from epoch %zu on (grid cell %.3g; the whole path's map: %.3g)\n", drop,
                end_cell, cell);
  if (any_unresolved)
    std::printf("  * shorter than half a grid cell of either map: below what they resolve, left out\n");
  std::fflush(stdout);

  basin::plot::style s;
  char label[64];
  s.title = "resnet8 on Fashion-MNIST: the " + st.opt_name + " path, batch " + std::to_string(batch) +
            ", on its PCA plane (training loss)";
  std::snprintf(label, sizeof label, "1st PC: %.2f %%", 100 * r.explained[0]);
  s.xlabel = label;
  std::snprintf(label, sizeof label, "2nd PC: %.2f %%", 100 * r.explained[1]);
  s.ylabel = label;
  s.zlabel = "training loss";
  s.path = r.xy;
  s.path_label = st.opt_name + ", batch " + std::to_string(batch) + ", one point per epoch";
  basin::plot::contour(r.loss, out + "/train_loss_contour", s);
  s.title = "resnet8 on Fashion-MNIST: the " + st.opt_name + " path, batch " + std::to_string(batch) + ", from epoch " +
            std::to_string(drop) + " (the first drop) on";
  s.path = tail;
  // Its loss spans less than the reference tool's level spacing: contour's defaults then take
  // round levels of the map's own range.
  basin::plot::contour(r.end, out + "/train_loss_contour_end", s);
  return r;
}

// The mean of v[k] over the steps k in [from, to) that have one (NaN when none has).
double mean_of(const std::vector<basin::path_step>& v, double basin::path_step::*field, std::size_t from,
               std::size_t to) {
  double sum = 0;
  int n = 0;
  for (std::size_t k = from; k < std::min(to, v.size()); ++k)
    if (std::isfinite(v[k].*field)) sum += v[k].*field, ++n;
  return n ? sum / n : std::nan("");
}

}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Trains resnet8 on Fashion-MNIST with each batch size, projects each path on its PCA "
                            "directions and draws it over the training-loss contours, with each epoch's angle to the "
                            "plane's steepest descent.");
  settings st;
  st.epochs = args.get("epochs", 30, about{"epochs to train, one checkpoint (one point of the path) each"});
  const long train_subset = args.get("train-subset", 5000L, about{"training images used (the first N)"});
  const auto batches =
      args.get_list<long>("batch-size", "128,2048", about{"batch sizes, one path (and one folder) each"});
  st.opt_name = args.get("optimizer", std::string("sgd"), about{"sgd (momentum 0.9) or adam"});
  st.lr = args.get("lr", st.opt_name == "adam" ? 1e-3 : 0.1, "0.1, 1e-3 with --optimizer adam",
                   about{"learning rate at the start (divided by 10 at 50% and 75% of the epochs)"});
  st.wd = args.get("wd", 5e-4, about{"weight decay"});
  st.grid = args.get("grid", 21, about{"grid points along each axis of the plane (each of the two maps)"});
  const long loss_subset =
      args.get("loss-subset", 1000L, about{"training images the loss is evaluated on at every point of the plane"});
  st.seed = args.get("seed", std::uint64_t(1),
                     about{"seed of the initialization, the shuffling and the two random directions compared"});
  const std::string data_dir = basin::examples::fashion_mnist_dir(args);
  st.out = args.get("out", std::string("trajectory"),
                    about{"folder the checkpoints, directions, surfaces and pictures are written to"});
  if (!args.done()) return 0;  // --help
  basin::require(st.epochs >= 2 && st.epochs <= 100000,
                 "option --epochs: a path needs 2 to 100000 epochs (3 snapshots or more), got ", st.epochs);
  basin::require(st.opt_name == "sgd" || st.opt_name == "adam", "option --optimizer: expected sgd or adam, got '",
                 st.opt_name, "'");
  basin::require(train_subset >= 1, "option --train-subset: expected at least 1 image, got ", train_subset);
  basin::require(loss_subset >= 1, "option --loss-subset: expected at least 1 image, got ", loss_subset);
  for (long b : batches) basin::require(b >= 1, "option --batch-size: expected batch sizes of at least 1, got ", b);
  basin::require(std::isfinite(st.lr) && st.lr > 0, "option --lr: expected a positive rate, got ", st.lr);
  basin::require(std::isfinite(st.wd) && st.wd >= 0 && st.lr * st.wd < 1,
                 "option --wd: expected 0 or more and lr x wd below 1 (each step scales the weights by 1 - lr wd; "
                 "typical 5e-4), got ",
                 st.wd, " with --lr ", st.lr);
  basin::require(st.grid >= 2 && st.grid <= 10000, "option --grid: expected 2 to 10000 points per axis (at most ",
                 "10^8 in all), got ", st.grid);

  auto [train_all, test_set, stats] =
      basin::normalize_by_train(basin::read_fashion_mnist(data_dir, true), basin::read_fashion_mnist(data_dir, false));
  const auto train_set = basin::first_images(train_all, train_subset);
  const auto probe = basin::first_images(train_set, loss_subset);
  basin::make_folder(st.out, "option --out");

  std::vector<path_result> runs;
  for (long b : batches) runs.push_back(one_path(st, b, train_set, probe, test_set));

  // The exploration phase (the full learning rate) against what follows the first drop.
  const auto drop = std::size_t(st.epochs / 2);
  // Epoch k is step k (checkpoint k to k + 1); the ranges are inclusive.
  const auto range = [](std::size_t from, std::size_t to) {
    return from < to ? basin::text("epochs ", from, "-", to - 1) : std::string("(none)");
  };
  std::printf(
      "\n  batch  test acc.  mean angle to the map's steepest descent            turn at the drop\n"
      "                   %-12s %-13s %-18s (epoch %zu)\n",
      range(0, drop / 2).c_str(), range(drop / 2, drop).c_str(), range(drop, std::size_t(st.epochs)).c_str(), drop);
  std::vector<basin::plot::curve> angles;
  const auto deg = [](double a) {
    char t[32] = "not resolved";
    if (std::isfinite(a)) std::snprintf(t, sizeof t, "%.1f deg", a);
    return std::string(t);
  };
  for (const auto& r : runs) {
    const double early = mean_of(r.steps, &basin::path_step::descent_angle, 0, drop / 2),
                 late = mean_of(r.steps, &basin::path_step::descent_angle, drop / 2, drop),
                 after = mean_of(r.steps, &basin::path_step::descent_angle, drop, r.steps.size());
    std::printf("  %5ld  %7.2f%%   %-12s %-13s %-18s %.1f deg\n", r.batch, r.test_accuracy, deg(early).c_str(),
                deg(late).c_str(), deg(after).c_str(), r.steps[drop].turn);
    basin::plot::curve c;
    c.label = "batch " + std::to_string(r.batch);
    for (std::size_t k = 0; k < r.steps.size(); ++k)
      c.x.push_back(double(k) + 0.5), c.y.push_back(r.steps[k].descent_angle);
    angles.push_back(c);
  }
  std::printf("(0 deg: straight downhill on the plane's map; 90 deg: along a contour; 180 deg: uphill)\n");
  basin::plot::style s;
  s.title = "each epoch's step against its PCA plane's steepest descent";
  s.xlabel = "epoch (learning rate / 10 after epochs " + std::to_string(drop) + " and " +
             std::to_string(st.epochs * 3 / 4) + "; steps shorter than half a cell of either map left out)";
  s.zlabel = "angle to the steepest descent (degrees)";
  bool any_angle = false;
  for (const auto& c : angles)
    for (double y : c.y) any_angle = any_angle || std::isfinite(y);
  if (any_angle)
    basin::plot::curves(angles, {}, st.out + "/path_angles", s);
  else
    std::printf("no step is as long as half a grid cell: path_angles.png not drawn (a larger --grid resolves more)\n");
  std::printf(
      "wrote %s/batch<B>/{model_*.h5, directions.h5, directions.h5_proj_cos.h5, surface.h5, surface_end.h5, "
      "train_loss_contour.png, train_loss_contour_end.png} and %s/path_angles.png\n",
      st.out.c_str(), st.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "06_trajectory: %s\n", e.what());
  return 1;
}
