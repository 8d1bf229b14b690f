// examples/12_wide_then_prune.cpp — the talk on width and pruning: "it's not effective to build
// skinny networks and then train them because you get bad minimizers ... the poor generalization
// error so what people do is you start with a wide network and you train that and then you prune
// the filters and you condense that down to a skinny network and then you get good generalization
// error ... the width really convexifies this landscape, makes it much easier to find these sorts
// of wide well-behaved minimizers and then once you have them you can just sort of throw out the
// meaningless weights".
//
// On Fashion-MNIST, with one training recipe (SGD, momentum 0.9, Nesterov, weight decay 5e-4,
// batch 128, cosine learning rate):
//   skinny  the net at width 1 (plain20 or resnet20) trained from scratch for E + F epochs (from
//           0.1), as many epochs as the pruned nets get in all;
//   wide    the same net at --wide 2 or 4 (2x or 4x the channels in every layer) trained E epochs;
//   pruned  the wide net pruned back to width 1 (net/prune.hpp: Li et al. 2017's filter pruning)
//           by each --criteria (l1_norm: the filters' L1 norms; bn_scale: the batch norms' |gamma|;
//           random: the control), evaluated at once and again with the batch norms' running
//           statistics recomputed on the training set (the wide net's no longer fit the narrower
//           layers' inputs), then fine-tuned F epochs (cosine from --finetune-lr, 0.01).
// Then each final net's test loss along one filter-normalized random direction (Li et al. 2018),
// and the basin's half-width there (where the test loss first passes chance, ln 10).
//
//   12_wide_then_prune [--net plain20] [--wide 4] [--epochs 4] [--finetune 2] [--finetune-lr 0.01]
//                      [--criteria l1_norm,bn_scale,random]
//                      [--train-subset 10000] [--test-subset 2000] [--line -1:1:21] [--seed 1]
//                      [--data /usr/share/datasets/fashion-mnist] [--out pruning]
//
// Writes <out>/<run>.h5 (each trained net's checkpoint: a rerun loads it; an interrupted training
// resumes at its last epoch), <out>/<run>.history.csv (its test loss and accuracy after every
// epoch), <out>/line_<run>.h5 (the 1-D sweeps, resumable point by point), summary.csv (rewritten
// after every net), prune_accuracy.png (test accuracy over the epochs of every run) and
// prune_lines.png (the 1-D slices).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/landscape/directions.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/landscape/width.hpp"
#include "basin/net/model.hpp"
#include "basin/net/prune.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

namespace {
struct settings {
  std::string net = "plain20";
  int wide = 4, epochs = 4, finetune = 2;
  double finetune_lr = 0.01;
  std::vector<basin::prune_by> criteria;
  long train_subset = 10000, test_subset = 2000;
  std::vector<double> line;
  std::uint64_t seed = 1;
  std::string out;
};

// One trained net: what it is, its test accuracy after each epoch (epoch, loss, accuracy), and its end.
struct run {
  std::string name, label;
  long params = 0;
  int first_epoch = 0;  // the epoch its history starts after (the pruned nets: E)
  std::vector<std::array<double, 3>> history;
  // The pruned nets before fine-tuning: as pruned (the wide net's batch-norm statistics at the
  // kept channels), and with the statistics recomputed on the training set (what fine-tuning starts from).
  basin::evaluation pruned_test, recalibrated_test;
  basin::evaluation train, test;
  basin::plot::curve line;
  std::string half_width;
  run(std::string n, std::string l) : name(std::move(n)), label(std::move(l)) {}
};

// The history file of a run: a header and "epoch,test_loss,test_accuracy" lines, one per finished
// epoch (no file: no epochs yet). Rewritten whole at each epoch (write_text), so a crash
// leaves the old file or the new one; a line that does not read as a whole epoch >= 0, a loss and
// an accuracy in [0, 100] is refused naming the file and the line.
const char* const history_header = "epoch,test_loss,test_accuracy";
std::vector<std::array<double, 3>> read_history(const std::string& path) {
  std::vector<std::array<double, 3>> rows;
  if (!basin::path_exists(path, "a run's history")) return rows;
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A last line without its newline is one an earlier version was appending when it stopped:
  // left out (its epoch's line is written again), with a note.
  if (!all.empty() && all.back() != '\n') {
    const auto cut = all.rfind('\n');
    std::printf("history file '%s': its last line '%s' is cut short; left out\n", path.c_str(),
                all.substr(cut == std::string::npos ? 0 : cut + 1).c_str());
    all.erase(cut == std::string::npos ? 0 : cut + 1);
  }
  std::istringstream lines(all);
  std::string line;
  basin::require(std::getline(lines, line) && line == history_header, "history file '", path,
                 "': expected the header '", history_header, "' on its first line, got '", line, "'");
  for (int n = 2; std::getline(lines, line); ++n) {
    std::array<double, 3> r{};
    char end = 0;
    // (a diverged net's loss may be inf or nan, as written)
    const bool ok = std::sscanf(line.c_str(), "%lf,%lf,%lf%c", &r[0], &r[1], &r[2], &end) == 3 && r[0] >= 0 &&
                    r[0] <= 1e6 && r[0] == std::floor(r[0]) && r[2] >= 0 && r[2] <= 100;
    basin::require(ok, "history file '", path, "' line ", n,
                   ": expected 'epoch,test_loss,test_accuracy' with a whole epoch >= 0 and an accuracy in [0, 100], "
                   "got '",
                   line, "' (remove the file to write it anew)");
    // (files that earlier versions appended to after a crash may repeat epochs: the later wins)
    while (!rows.empty() && rows.back()[0] >= r[0]) rows.pop_back();
    rows.push_back(r);
  }
  return rows;
}
void write_history(const std::string& path, const std::vector<std::array<double, 3>>& rows) {
  std::string out = std::string(history_header) + "\n";
  for (const auto& r : rows) out += basin::text(int(r[0]), ',', r[1], ',', r[2], '\n');
  basin::write_text(path, out, "12_wide_then_prune: a run's history");
}

// Trains (or loads) m with SGD from lr0 (cosine) for `epochs` epochs into <out>/<name>.h5,
// recording each epoch's test evaluation in <out>/<name>.history.csv. The recipe names the test
// set's size too, so that a rerun on another test subset refuses the run's files instead of
// mixing their histories with its numbers.
template <class Model>
void train_run(Model& m, run& r, const settings& s, int epochs, double lr0, const std::string& recipe,
               const basin::dataset& train_set, const basin::dataset& test_set) {
  const auto ckpt = s.out + "/" + r.name + ".h5";
  const auto hist = s.out + "/" + r.name + ".history.csv";
  if (!basin::path_exists(ckpt, "option --out")) {
    std::printf("training %s: %d epochs on %lld images\n", r.label.c_str(), epochs, (long long)train_set.size());
    bool resuming = false;
    for (int e = 1; e < epochs; ++e)
      resuming = resuming || basin::path_exists(ckpt + ".epoch" + std::to_string(e) + ".h5", "option --out");
    if (!resuming) write_history(hist, {});
  }
  basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, 5e-4, true}, Model::n_params);
  basin::train_options o;
  o.epochs = epochs;
  o.seed = s.seed;
  o.batch_size = 128;
  // (an epoch trained again after a crash replaces its line and drops any after it)
  const auto append = [&](int epoch, const basin::evaluation& t) {
    auto rows = read_history(hist);
    while (!rows.empty() && rows.back()[0] >= epoch) rows.pop_back();
    rows.push_back({double(epoch), t.loss, t.accuracy});
    write_history(hist, rows);
  };
  basin::load_or_train(
      m, opt, basin::optim::cosine_lr{lr0, double(epochs)}, train_set, o, ckpt,
      recipe + ", history on " + std::to_string(test_set.size()) + " test images", &test_set, true,
      basin::other_recipe::refuse, [&](const basin::epoch_record& e) { append(r.first_epoch + e.epoch, e.test); },
      [&](int e) {  // resumed after epoch e: its line, if a kill took it before it was written
        const auto rows = read_history(hist);
        if (rows.empty() || int(rows.back()[0]) < r.first_epoch + e)
          append(r.first_epoch + e, basin::evaluate(m, test_set));
      });
  r.history = read_history(hist);
  // A run stopped after its last checkpoint was written but before its history line: the line now.
  const int last = r.first_epoch + epochs;
  if (r.history.empty() || int(r.history.back()[0]) < last) {
    append(last, basin::evaluate(m, test_set));
    r.history = read_history(hist);
  }
}

// The end of a run: train and test evaluation, the 1-D slice and its half-width.
template <class Model>
void finish(Model& m, run& r, const settings& s, const basin::dataset& train_set, const basin::dataset& test_set) {
  r.params = long(Model::n_params);
  r.train = basin::evaluate(m, train_set);
  r.test = basin::evaluate(m, test_set);
  auto d = basin::random_direction(m, s.seed + 100, 0, {basin::normalization::filter, true, false});
  basin::loss_accuracy metrics;
  metrics.test = &test_set;
  basin::surface_options so;
  so.x = s.line;
  so.settings = "line of " + r.name + ", filter-normalized, seed " + std::to_string(s.seed + 100) + ", " +
                std::to_string(test_set.size()) + " test images";
  const auto file = s.out + "/line_" + r.name + ".h5";
  basin::sweep(m, d, nullptr, file, so, metrics.names(), metrics);
  r.line = {s.line, basin::h5::file::open(file).read<double>("test_loss"), r.label};
  r.half_width = basin::half_width_text(s.line, r.line.y, std::log(10.0));  // where it passes chance
  m.release_buffers();
}

void write_summary(const std::string& path, const std::vector<run>& runs) {
  std::string out;
  out +=
      "run,parameters,test_accuracy_pruned,test_loss_pruned,test_accuracy_recalibrated,test_loss_recalibrated,"
      "train_loss,train_accuracy,test_loss,test_accuracy,half_width\n";
  for (const auto& r : runs) {
    const bool pruned = r.first_epoch > 0;
    char line[512];
    std::snprintf(line, sizeof line, "%s,%ld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%s\n", r.name.c_str(), r.params,
                  pruned ? r.pruned_test.accuracy : NAN, pruned ? r.pruned_test.loss : NAN,
                  pruned ? r.recalibrated_test.accuracy : NAN, pruned ? r.recalibrated_test.loss : NAN, r.train.loss,
                  r.train.accuracy, r.test.loss, r.test.accuracy, r.half_width.c_str());
    out += line;
  }
  basin::write_text(path, out, "12_wide_then_prune: its summary");
}

void print(const run& r) {
  std::printf("%-26s %8ld params  train loss %.4f (%.2f%%)  test loss %.4f, %.2f%%", r.label.c_str(), r.params,
              r.train.loss, r.train.accuracy, r.test.loss, r.test.accuracy);
  if (r.first_epoch > 0)
    std::printf(" (after pruning: %.2f%%, %.2f%% with recomputed statistics)", r.pruned_test.accuracy,
                r.recalibrated_test.accuracy);
  std::printf("  half-width %s\n", r.half_width.c_str());
  std::fflush(stdout);
}

template <template <int, class, int, int, class> class Kind, int Wide>
std::vector<run> experiment(const settings& s, const basin::dataset& train_set, const basin::dataset& test_set) {
  using W = basin::weights::real;
  using skinny_t = basin::model<Kind<20, basin::fashion_input, 1, 10, W>, float, basin::backend::host>;
  using wide_t = basin::model<Kind<20, basin::fashion_input, Wide, 10, W>, float, basin::backend::host>;
  const auto recipe = [](int epochs, double lr) {
    return basin::text("SGD lr ", lr, " cosine over ", epochs, " epochs, Nesterov, wd 0.0005");
  };
  std::vector<run> runs;
  const auto total = s.epochs + s.finetune;
  const auto wide_recipe = recipe(s.epochs, 0.1);
  {
    run r{skinny_t::network_type::name(), skinny_t::network_type::name() + " from scratch"};
    skinny_t m(s.seed);
    train_run(m, r, s, total, 0.1, recipe(total, 0.1), train_set, test_set);
    finish(m, r, s, train_set, test_set);
    runs.push_back(r);
    print(r);
    write_summary(s.out + "/summary.csv", runs);
  }
  wide_t wide(s.seed);
  {
    run r{wide_t::network_type::name(), wide_t::network_type::name()};
    train_run(wide, r, s, s.epochs, 0.1, wide_recipe, train_set, test_set);
    finish(wide, r, s, train_set, test_set);
    runs.push_back(r);
    print(r);
    write_summary(s.out + "/summary.csv", runs);
  }
  for (auto criterion : s.criteria) {
    const auto how = std::string(basin::to_string(criterion));
    // The file names carry a fine-tuning rate other than the default's, so both can share --out.
    const std::string rate = s.finetune_lr == 0.01 ? "" : "_lr" + basin::text(s.finetune_lr);
    run r{skinny_t::network_type::name() + "_from_w" + std::to_string(Wide) + "_" + how + rate,
          skinny_t::network_type::name() + " pruned (" + how + (rate.empty() ? "" : ", " + rate.substr(1)) + ")"};
    r.first_epoch = s.epochs;
    skinny_t m(s.seed);
    const auto rep = basin::prune_filters(wide, m, {criterion, s.seed});
    double share = 0;
    for (const auto& g : rep.groups) share += g.kept_share / double(rep.groups.size());
    r.pruned_test = basin::evaluate(m, test_set);
    basin::recompute_batch_norm(m, train_set);
    r.recalibrated_test = basin::evaluate(m, test_set);
    std::printf(
        "pruned %s to %s by %s: %ld of %ld parameters kept%s; test %.2f%% as pruned, %.2f%% with the batch norms' "
        "statistics recomputed on the training set\n",
        wide_t::network_type::name().c_str(), skinny_t::network_type::name().c_str(), how.c_str(),
        long(rep.params_narrow), long(rep.params_wide),
        criterion == basin::prune_by::random
            ? ""
            : basin::text(", the kept filters hold ", std::round(1000 * share) / 10,
                          "% of their layers' score (mean over ", rep.groups.size(), " groups)")
                  .c_str(),
        r.pruned_test.accuracy, r.recalibrated_test.accuracy);
    train_run(m, r, s, s.finetune, s.finetune_lr,
              "fine-tuning of " + wide_t::network_type::name() + " (" + wide_recipe + ") pruned by " + how + ", " +
                  recipe(s.finetune, s.finetune_lr),
              train_set, test_set);
    r.history.insert(r.history.begin(), {double(s.epochs), r.recalibrated_test.loss, r.recalibrated_test.accuracy});
    finish(m, r, s, train_set, test_set);
    runs.push_back(r);
    print(r);
    write_summary(s.out + "/summary.csv", runs);
  }
  return runs;
}
}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Trains a skinny net from scratch and the same net 2x or 4x wide, prunes the wide one "
                            "back to the skinny width by each criterion and fine-tunes it, then draws the test "
                            "accuracy over the epochs and the test loss along a filter-normalized direction through "
                            "each minimizer.");
  settings s;
  s.net = args.get("net", std::string("plain20"), about{"the skinny net: plain20 or resnet20"});
  s.wide = args.get("wide", 4, about{"how many times the skinny net's channels the wide net has: 2 or 4"});
  s.epochs = args.get("epochs", 4,
                      about{"epochs the wide net is trained (the skinny one from scratch: these plus --finetune)"});
  s.finetune = args.get("finetune", 2, about{"epochs each pruned net is fine-tuned"});
  s.finetune_lr = args.get("finetune-lr", 0.01, about{"learning rate the fine-tuning starts from (cosine decay)"});
  const std::string criteria =
      args.get("criteria", std::string("l1_norm,bn_scale,random"),
               about{"how the kept filters are chosen, one pruned net each: l1_norm, bn_scale (|gamma|), random"});
  s.train_subset = args.get("train-subset", 10000L, about{"training images used (the first N)"});
  s.test_subset = args.get("test-subset", 2000L,
                           about{"test images the accuracy after each epoch and the 1-D slices are taken on"});
  s.line = basin::parse_range(
      args.get("line", std::string("-1:1:21"),
               about{"the 1-D slice through each minimizer, lo:hi:points, in filter-normalized units"}),
      "--line");
  s.seed = args.get("seed", std::uint64_t(1),
                    about{"seed of the initialization, the shuffling, random pruning and the slice's direction"});
  const std::string data_dir = basin::examples::fashion_mnist_dir(args);
  s.out = args.get("out", std::string("pruning"),
                   about{"folder the checkpoints, histories, slices and pictures are written to (a rerun resumes)"});
  if (!args.done()) return 0;  // --help
  basin::require(s.net == "plain20" || s.net == "resnet20", "option --net: expected plain20 or resnet20, got '", s.net,
                 "'");
  basin::require(s.wide == 2 || s.wide == 4, "option --wide: expected 2 or 4 (times the channels), got ", s.wide);
  basin::require(s.epochs >= 1, "option --epochs: expected at least 1, got ", s.epochs);
  basin::require(s.finetune >= 1, "option --finetune: expected at least 1, got ", s.finetune);
  basin::require(s.finetune_lr > 0 && s.finetune_lr < 10,
                 "option --finetune-lr: expected a learning rate in (0, 10), got ", s.finetune_lr);
  basin::require(s.train_subset >= 2 && s.test_subset >= 1,
                 "options --train-subset and --test-subset: expected at least 2 and 1 images, got ", s.train_subset,
                 " and ", s.test_subset);
  basin::require(s.line.size() >= 3 && s.line.front() < 0 && s.line.back() > 0 &&
                     std::any_of(s.line.begin(), s.line.end(), [](double a) { return a == 0; }),
                 "option --line: expected a range through 0 (the trained weights) with points on both sides of it, "
                 "e.g. -1:1:21, got ",
                 s.line.size(), " points from ", s.line.front(), " to ", s.line.back());
  for (const auto& c : basin::examples::split(criteria))
    s.criteria.push_back(basin::parse_prune_by(c, "option --criteria"));
  basin::require(!s.criteria.empty(), "option --criteria: expected a comma-separated list, got '", criteria, "'");

  auto [train_all, test_all, stats] =
      basin::normalize_by_train(basin::read_fashion_mnist(data_dir, true), basin::read_fashion_mnist(data_dir, false));
  const auto train_set = basin::first_images(train_all, s.train_subset);
  const auto test_set = basin::first_images(test_all, s.test_subset);
  basin::make_folder(s.out, "option --out");

  std::vector<run> runs;
  if (s.net == "plain20")
    runs = s.wide == 2 ? experiment<basin::plain, 2>(s, train_set, test_set)
                       : experiment<basin::plain, 4>(s, train_set, test_set);
  else
    runs = s.wide == 2 ? experiment<basin::resnet, 2>(s, train_set, test_set)
                       : experiment<basin::resnet, 4>(s, train_set, test_set);

  basin::plot::style ps;
  ps.title = "Test accuracy: " + s.net + " from scratch, at width " + std::to_string(s.wide) +
             ", and pruned from it then fine-tuned";
  ps.xlabel = "epoch";
  ps.zlabel = "test accuracy (%)";
  std::vector<basin::plot::curve> acc;
  for (std::size_t k = 0; k < runs.size(); ++k) {
    basin::plot::curve c;
    c.label = runs[k].label;
    c.points = true;
    for (const auto& h : runs[k].history) c.x.push_back(h[0]), c.y.push_back(h[2]);
    if (!c.x.empty()) acc.push_back(c);
  }
  basin::plot::curves(acc, {}, s.out + "/prune_accuracy", ps);
  ps.title = "Test loss along a filter-normalized random direction";
  ps.xlabel = "alpha";
  ps.zlabel = "test loss";
  ps.log_z = true;
  std::vector<basin::plot::curve> lines;
  for (const auto& r : runs) lines.push_back(r.line);
  // The level the half-widths are read at.
  basin::plot::curve level{s.line, std::vector<double>(s.line.size(), std::log(10.0)), "chance: ln 10"};
  level.dash = 2;
  level.colour = 7;
  lines.push_back(level);
  basin::plot::curves(lines, {}, s.out + "/prune_lines", ps);
  std::printf("wrote %s/{summary.csv, prune_accuracy.png, prune_lines.png} and a checkpoint per net\n", s.out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "12_wide_then_prune: %s\n", e.what());
  return 1;
}
