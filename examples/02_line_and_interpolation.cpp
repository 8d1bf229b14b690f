// examples/02_line_and_interpolation.cpp — the talk's 1-D pictures (Li et al. 2018, sec. 3-4).
//
// Trains the same net twice from the same initialization, then draws
//   1. the linear interpolation between the two minimizers, theta(a) = (1-a) theta_1 + a theta_2,
//      a in [-0.5, 1.5] (Goodfellow et al. 2015; "states" mode: batch-norm statistics move too);
//   2. random 1-D lines through each minimizer WITHOUT normalization: the large-batch minimizer
//      looks sharper, but its weights are also smaller (see the histograms);
//   3. the same lines with FILTER-NORMALIZED directions, which factor the weight scale out;
//   4. the weight histograms of both minimizers;
//   5. scale invariance (the talk: "you can multiply the weights by 100 and that factor of a
//      hundred would just get taken out by the batch normalization"): the first minimizer and the
//      same network with every conv before a batch norm multiplied by --rescale (10), along the
//      same random draw: without normalization the two lines differ, filter-normalized they
//      coincide (scale_invariance.png; --rescale 1 leaves it out).
// `--compare batch` (the default) trains with small and with large batches (SGD); `--compare
// optimizer` trains with SGD and with Adam at the same batch size (the talk: "this Adam minimizer
// is visually sharper than this SGD minimizer and it also has worse generalization error").
// For each line it prints the basin's half-width, the distance from the minimizer at which the
// test loss passes chance level (ln 10), the number the pictures show.
// Each curve is a 1-D sweep written to its own HDF5 file (resumable), then drawn with gnuplot.
// Every sweep evaluates the test loss on the first --eval-subset test images and the training loss
// on the first --train-eval training images (0 leaves it out); the interpolation is drawn as in
// the paper's figure 2 (loss blue, accuracy red; training solid, test dashed), each line with its
// training loss solid, test loss dashed and test accuracy dotted.
//
// The interpolation's two ends are the talk's first picture: it prints how far beyond each
// minimizer the loss stays below chance (with `--wd` the small-batch end narrows). The lines
// without normalization run over [-1, 1] like the others, where a unit Gaussian direction has
// left the basin by the first point; `--raw-range 0.1` sweeps them over [-0.1, 0.1] (files and
// pictures named ..._range0.1), where they cross chance 0.02-0.05 out (README.md).
//
// `--net vgg9` trains the paper's VGG-9 (Li et al. 2018 figs. 1-4) in place of resnet20 (about
// 4.5x the work per image).
//
// `--wd` takes one weight decay or a list (`--wd 0,5e-4`, the paper's figure 5): each value trains
// its own pair of minimizers and draws its own pictures (names start with `wd<value>_` for a
// positive one), and a list ends with a table of all of them side by side.
//
//   02_line_and_interpolation [--net resnet20|vgg9] [--compare batch|optimizer] [--train-subset 12000] [--epochs 6]
//       [--small-batch 128] [--large-batch 1024] [--lr 0.1] [--adam-lr 1e-3] [--wd 0 | --wd 0,5e-4,...]
//       [--points 21] [--eval-subset 1000] [--train-eval 1000] [--rescale 10] [--raw-range 1]
//       [--data /usr/share/datasets/fashion-mnist] [--out lines]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/landscape/width.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/plot/curves.hpp"
#include "basin/train/resume.hpp"
#include "cli.hpp"

template <class Net>
using model_of = basin::model<Net, float, basin::backend::host>;

namespace {
// One way to train: SGD (momentum 0.9) or Adam, batch size, peak learning rate (cosine decay).
struct recipe {
  bool adam = false;
  long batch = 128;
  double lr = 0.1;
  std::string label;  // legend and file names' words
};

// Trains (or loads, when the checkpoint exists) one minimizer; an interrupted training resumes
// at its last finished epoch.
template <class model_t>
void minimizer(model_t& m, const basin::dataset& train, const recipe& r, int epochs, double wd,
               const std::string& ckpt) {
  if (!basin::path_exists(ckpt, "option --out"))
    std::printf("training %s: %d epochs on %lld images\n", r.label.c_str(), epochs, (long long)train.size());
  basin::train_options o;
  o.epochs = epochs;
  o.batch_size = r.batch;
  o.seed = 7;
  const basin::optim::cosine_lr lr{r.lr, double(epochs)};
  const auto recipe = basin::text(r.label, ", lr ", r.lr, " cosine, wd ", wd);
  if (r.adam) {
    basin::optim::optimizer<basin::optim::adam, float, basin::backend::host> opt({0.9, 0.999, 1e-8, wd},
                                                                                 model_t::n_params);
    basin::load_or_train(m, opt, lr, train, o, ckpt, recipe);
  } else {
    basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, wd, false}, model_t::n_params);
    basin::load_or_train(m, opt, lr, train, o, ckpt, recipe);
  }
}

// The grid point at a; the grids are built so that it is on them.
std::size_t at(const basin::plot::curve& c, double a) {
  std::size_t k = 0;
  for (std::size_t i = 1; i < c.x.size(); ++i)
    if (std::abs(c.x[i] - a) < std::abs(c.x[k] - a)) k = i;
  basin::require(std::abs(c.x[k] - a) < 1e-9, "02: the grid misses ", a);
  return k;
}

// The curves of one 1-D sweep: test loss and accuracy, and training loss and accuracy (empty when
// the training set was not evaluated).
struct line_curves {
  basin::plot::curve loss, acc, train_loss, train_acc;
};

// A 1-D sweep along d from m's current weights into file.
template <class model_t>
line_curves line(model_t& m, basin::direction<model_t>& d, const std::vector<double>& xs, const std::string& file,
                 const basin::loss_accuracy& metrics, const std::string& label, const std::string& settings) {
  basin::surface_options so;
  so.x = xs;
  so.settings = settings;
  basin::sweep(m, d, nullptr, file, so, metrics.names(), metrics);
  auto f = basin::h5::file::open(file);
  const std::string sep = label.empty() ? "" : label + ", ";
  line_curves c{{xs, f.read<double>("test_loss"), sep + "test loss"},
                {xs, f.read<double>("test_acc"), sep + "test accuracy"},
                {},
                {}};
  if (metrics.train) {
    c.train_loss = {xs, f.read<double>("train_loss"), sep + "training loss"};
    c.train_acc = {xs, f.read<double>("train_acc"), sep + "training accuracy"};
  }
  return c;
}

// c drawn in line colour `colour` (0 blue, 3 red, ...) with dash type `dash` (1 solid, 2 dashed, 3 dotted).
basin::plot::curve styled(basin::plot::curve c, int colour, int dash) {
  c.colour = colour;
  c.dash = dash;
  return c;
}

// One minimizer's numbers, for the table a list of weight decays ends with.
struct result {
  double wd = 0;
  std::string label;          // the recipe
  double loss = 0, acc = 0;   // on the test images
  double rms = 0;             // its conv and dense weights' root mean square
  std::string width_filter;   // the filter-normalized line's half-width
  std::string interpolation;  // the interpolation's verdict (the same for both of a pair)
};

// What main parsed, for the net-specific part.
struct settings {
  bool by_batch = true;
  recipe ra, rb;
  std::string out;
  long subset = 0;
  int epochs = 0, points = 0;
  double wd = 0;
  double rescale = 10;   // section 5's factor; 1 leaves it out
  double raw_range = 1;  // the lines without normalization run over [-raw_range, raw_range]
};

// A number as settings text, exactly enough to tell runs apart.
std::string text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Trains both minimizers of Net and draws the pictures; returns their numbers.
template <class Net>
std::vector<result> compare_minimizers(const settings& st, const basin::dataset& train, const basin::dataset& probe,
                                       const basin::dataset* train_probe) {
  using model_t = model_of<Net>;
  const auto& [by_batch, ra, rb, out, subset, epochs, points, wd, rescale, raw_range] = st;
  // File names of the two minimizers: those of earlier versions for the batch comparison.
  const std::string fa = by_batch ? "small" : "sgd", fb = by_batch ? "large" : "adam";
  model_t small(1), large(1);  // the same initialization; "small" is the first recipe, "large" the second
  const std::string wd_tag = wd > 0 ? "_wd" + basin::text(wd) : "";
  // Files of resnet20 keep the names of earlier versions; other nets' names start with the net's.
  const std::string net_tag = Net::name() == "resnet20" ? "" : Net::name() + "_";
  minimizer(small, train, ra, epochs, wd, out + "/" + net_tag + fa + (by_batch ? "_batch" : "") + wd_tag + ".h5");
  minimizer(large, train, rb, epochs, wd, out + "/" + net_tag + fb + (by_batch ? "_batch" : "") + wd_tag + ".h5");
  const auto es = basin::evaluate(small, probe), el = basin::evaluate(large, probe);
  // The conv and dense weights of both (biases and batch-norm parameters left out), and their
  // size, which a line without normalization measures (the talk: "what you're plotting is just the
  // size of the weights"): the root mean square.
  std::vector<std::vector<double>> w(2);
  for (const auto& t : model_t::param_table) {
    if (t.kind != basin::param_kind::weight) continue;
    for (basin::index_t i = 0; i < t.size(); ++i) {
      w[0].push_back(small.params[t.offset + i]);
      w[1].push_back(large.params[t.offset + i]);
    }
  }
  const auto rms = [](const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x * x;
    return std::sqrt(sum / double(std::max<std::size_t>(v.size(), 1)));
  };
  std::vector<result> results(2);
  for (int k = 0; k < 2; ++k) {
    auto& m = k ? large : small;
    const auto& e = k ? el : es;
    results[std::size_t(k)] = {wd, (k ? rb : ra).label, e.loss, e.accuracy, rms(w[std::size_t(k)]), "", ""};
    std::printf("%s: test loss %.4f, accuracy %.2f%%", (k ? rb : ra).label.c_str(), e.loss, e.accuracy);
    if (train_probe) {
      const auto et = basin::evaluate(m, *train_probe);
      std::printf("; training loss %.4f, accuracy %.2f%% (first %lld training images)", et.loss, et.accuracy,
                  (long long)train_probe->size());
    }
    std::printf("; weights' rms %.4f\n", rms(w[std::size_t(k)]));
  }

  // The test loss at every point, and the training loss on the first --train-eval training
  // images (the talk: "solid line is the training loss, that dotted line a little bit higher
  // that's the test loss").
  const basin::loss_accuracy metrics{train_probe, &probe, 500};
  const std::string cfg = " subset=" + std::to_string(subset) + " epochs=" + std::to_string(epochs) +
                          " eval=" + std::to_string(probe.size()) + " net=" + Net::name() + " wd=" + text(wd) + " " +
                          ra.label + " lr=" + text(ra.lr) + " / " + rb.label + " lr=" + text(rb.lr) +
                          (train_probe ? " train_eval=" + std::to_string(train_probe->size()) : "");
  // The scale-invariance lines compare test losses only.
  const basin::loss_accuracy test_metrics{nullptr, &probe, 500};
  const std::string test_cfg = cfg.substr(0, cfg.find(" train_eval="));
  const std::string pre =
      out + "/" + net_tag + (by_batch ? "" : "optimizer_") + (wd > 0 ? "wd" + basin::text(wd) + "_" : "");

  // 1. Interpolation (states mode: running statistics interpolate too). Beyond the two nets a
  // running variance can turn negative (where one net's is more than 3 times the other's): the
  // net is undefined there (every loss NaN, in PyTorch too), so the line stops at the last grid
  // point before it, and says so.
  auto between = basin::difference(small, large, true);
  const auto [var_lo, var_hi] = basin::running_variance_range(small, between);
  std::vector<double> ia;
  for (const double a : basin::linspace(-0.5, 1.5, 2 * points - 1))
    if (a >= var_lo && a <= var_hi) ia.push_back(a);
  if (var_lo > -0.5 || var_hi < 1.5) {
    const auto r3 = [](double a) { return basin::text(std::round(a * 1000) / 1000); };
    std::string where = var_lo > -0.5 ? "below a = " + r3(var_lo) : "";
    if (var_hi < 1.5) where += (where.empty() ? "above a = " : " and above a = ") + r3(var_hi);
    std::printf(
        "interpolation: a running variance turns negative %s (the straight line between the two nets' "
        "statistics): the line covers a in [%g, %g] of [-0.5, 1.5]\n",
        where.c_str(), ia.front(), ia.back());
  }
  const auto ic = line(small, between, ia, pre + "interpolation.h5", metrics, "", "interpolation" + cfg);
  const auto& il = ic.loss;
  basin::plot::style s;
  s.title = "Interpolation: " + ra.label + " (a = 0) to " + rb.label + " (a = 1)";
  s.xlabel = "a";
  s.zlabel = train_probe ? "loss" : "test loss";
  s.log_z = true;
  {  // as the paper's figure: loss blue, accuracy red; training solid, test dashed
    std::vector<basin::plot::curve> losses{styled(ic.loss, 0, 2)}, accs{styled(ic.acc, 3, 2)};
    if (train_probe) {
      losses.insert(losses.begin(), styled(ic.train_loss, 0, 1));
      accs.insert(accs.begin(), styled(ic.train_acc, 3, 1));
    }
    basin::plot::curves(losses, accs, pre + "interpolation", s);
  }
  // Chance level: a 10-class net that guesses uniformly has loss ln 10; beyond it the net has
  // lost what it learned.
  const double chance = std::log(10.0);
  // The talk's first picture: along this one line (the same direction and scale for both), how
  // far the loss stays below chance on either side of each minimizer, towards the other one and
  // beyond it; an end's narrower side says how sharp it looks. Weight decay shrinks the
  // small-batch weights more (it takes more steps), so the same step in a moves them further and
  // its end narrows: "with weight decay now the ... small batch [minimizer] is really sharp".
  {
    const std::size_t i0 = at(il, 0.0), i1 = at(il, 1.0);
    basin::plot::curve inner = il;  // the part between the two minimizers
    inner.x.assign(il.x.begin() + std::ptrdiff_t(i0), il.x.begin() + std::ptrdiff_t(i1) + 1);
    inner.y.assign(il.y.begin() + std::ptrdiff_t(i0), il.y.begin() + std::ptrdiff_t(i1) + 1);
    const basin::line_reach ends[2][2] = {
        {basin::reach_below(il.x, il.y, i0, -1, chance),
         basin::reach_below(inner.x, inner.y, 0, 1, chance)},  // {beyond, towards}
        {basin::reach_below(il.x, il.y, i1, 1, chance), basin::reach_below(inner.x, inner.y, i1 - i0, -1, chance)}};
    std::printf("interpolation: how far in a the test loss stays below ln 10 on each side of each minimizer:\n");
    for (int e = 0; e < 2; ++e)
      std::printf("  %-18s (a = %d)  beyond it %s, towards the other %s%s\n", (e ? rb : ra).label.c_str(), e,
                  ends[e][0].text().c_str(), ends[e][1].text().c_str(),
                  ends[e][1].how == basin::line_reach::grid_ends ? " (no barrier above chance)" : "");
    // Each end's narrower side lies in [min lo, min hi]; one end looks sharper when its interval
    // lies wholly below the other's.
    double lo[2], hi[2];
    for (int e = 0; e < 2; ++e)
      lo[e] = std::min(ends[e][0].lo, ends[e][1].lo), hi[e] = std::min(ends[e][0].hi, ends[e][1].hi);
    const auto range = [&](int e) {
      return lo[e] == hi[e] ? basin::text(std::round(lo[e] * 1000) / 1000)
             : std::isinf(hi[e])
                 ? "> " + basin::text(std::round(lo[e] * 1000) / 1000)
                 : basin::text(std::round(lo[e] * 1000) / 1000, " to ", std::round(hi[e] * 1000) / 1000);
    };
    const int sharper = hi[0] < lo[1] ? 0 : hi[1] < lo[0] ? 1 : -1;
    std::printf("  narrower side %s against %s: %s\n", range(0).c_str(), range(1).c_str(),
                sharper < 0 ? "this grid cannot tell which looks sharper (--points refines it)"
                            : ("on this line " + (sharper ? rb : ra).label + " looks sharper").c_str());
    for (auto& r : results) r.interpolation = sharper < 0 ? "undecided" : (sharper ? rb : ra).label + " sharper";
  }

  // 2.-3. Lines through each minimizer, without and with filter normalization; the lines without
  // normalization over [-raw_range, raw_range].
  const auto xs = basin::linspace(-1, 1, points), raw_xs = basin::linspace(-raw_range, raw_range, points);
  const std::string raw_tag = raw_range == 1 ? "" : "_range" + basin::text(raw_range);
  std::printf(
      "basin half-width: |alpha| where the test loss first exceeds ln 10 = %.3f (chance), mean of both "
      "sides:\n",
      chance);
  std::vector<basin::plot::curve> first_lines;  // the first minimizer's line, without and with normalization
  for (auto norm : {basin::normalization::none, basin::normalization::filter}) {
    std::vector<basin::plot::curve> losses, accs;
    for (auto* m : {&small, &large}) {
      const bool is_small = m == &small;
      auto d = basin::random_direction(*m, 11, 0, {norm, true, false});
      const bool raw = norm == basin::normalization::none;
      const std::string tag = (is_small ? fa : fb) + "_" + basin::to_string(norm) + (raw ? raw_tag : "");
      const auto c = line(*m, d, raw ? raw_xs : xs, pre + "line_" + tag + ".h5", metrics,
                          is_small ? ra.label : rb.label, std::string("line ") + tag + cfg);
      std::string width = basin::half_width_text(c.loss.x, c.loss.y, chance);
      if (train_probe)
        width += " (training loss: " + basin::half_width_text(c.train_loss.x, c.train_loss.y, chance) + ")";
      std::printf("  %-18s %-7s %s\n", (is_small ? ra.label : rb.label).c_str(), basin::to_string(norm), width.c_str());
      if (!raw) results[is_small ? 0 : 1].width_filter = basin::half_width_text(c.loss.x, c.loss.y, chance);
      // Each minimizer in its own colour: training loss solid, test loss dashed, test accuracy dotted.
      const int colour = is_small ? 0 : 1;
      if (train_probe) losses.push_back(styled(c.train_loss, colour, 1));
      losses.push_back(styled(c.loss, colour, 2));
      accs.push_back(styled(c.acc, colour, 3));
      if (is_small) first_lines.push_back(c.loss);
    }
    basin::plot::style ls = s;
    ls.xlabel = "alpha";
    ls.title = norm == basin::normalization::none ? "Random direction, no normalization" : "Random direction, filter-normalized";
    basin::plot::curves(
        losses, accs, pre + "line_" + basin::to_string(norm) + (norm == basin::normalization::none ? raw_tag : ""), ls);
  }

  // 5. Scale invariance: the first minimizer with every conv before a batch norm multiplied by
  // k (and the running statistics to match) is the same network, yet its raw line is another.
  large.release_buffers();  // no more forward passes through it: its activations go
  if (rescale != 1) {
    const double k = rescale;
    model_t scaled(1);
    scaled.params = small.params;
    scaled.state = small.state;
    const int convs = scaled.rescale_before_batch_norm(k);
    const auto e0 = basin::evaluate(small, probe);
    small.release_buffers();  // likewise
    const auto e1 = basin::evaluate(scaled, probe);
    std::printf(
        "scale invariance: %s with its %d convs before a batch norm x %g: test loss %.6f -> %.6f, "
        "accuracy %.2f%% -> %.2f%% (the same network)\n",
        ra.label.c_str(), convs, k, e0.loss, e1.loss, e0.accuracy, e1.accuracy);
    std::vector<basin::plot::curve> losses[2];  // without and with normalization
    for (auto norm : {basin::normalization::none, basin::normalization::filter}) {
      auto d = basin::random_direction(scaled, 11, 0, {norm, true, false});  // the same draw as above
      const bool raw = norm == basin::normalization::none;
      const std::string tag = fa + "_x" + text(k) + "_" + basin::to_string(norm) + (raw ? raw_tag : "");
      auto l = line(scaled, d, raw ? raw_xs : xs, pre + "line_" + tag + ".h5", test_metrics, "",
                    std::string("line ") + tag + test_cfg)
                   .loss;
      auto l0 = first_lines[raw ? 0 : 1];
      l0.label = ra.label + (raw ? ", no normalization" : ", filter-normalized");
      l.label = ra.label + " x " + text(k) + (raw ? ", no normalization" : ", filter-normalized");
      l.dash = 2;  // dashed over its original: the filter-normalized pair coincides
      double worst = 0;
      for (std::size_t i = 0; i < l.y.size(); ++i)
        worst = std::max(worst, std::abs(l.y[i] - l0.y[i]) / std::max(1.0, std::abs(l0.y[i])));
      std::printf("  %-7s half-width %s -> %s, largest relative loss difference along the line %.2g\n",
                  basin::to_string(norm), basin::half_width_text(l0.x, l0.y, chance).c_str(),
                  basin::half_width_text(l.x, l.y, chance).c_str(), worst);
      losses[raw ? 0 : 1].push_back(l0);
      losses[raw ? 0 : 1].push_back(l);
    }
    basin::plot::style ls = s;
    ls.xlabel = "alpha";
    ls.title = "Scale invariance: " + ra.label + " and the same net with its convs x " + text(k);
    ls.zlabel = "test loss";
    if (raw_tag.empty()) {  // both pairs on the same alpha axis
      losses[0].insert(losses[0].end(), losses[1].begin(), losses[1].end());
      basin::plot::curves(losses[0], {}, pre + "scale_invariance", ls);
    } else {  // the raw pair on its own range: one picture each
      basin::plot::curves(losses[0], {}, pre + "scale_invariance_none" + raw_tag, ls);
      basin::plot::curves(losses[1], {}, pre + "scale_invariance_filter", ls);
    }
  }

  // 4. Weight histograms (the weights above).
  basin::plot::style hs;
  hs.title = "Weight histograms";
  hs.xlabel = "weight value";
  hs.ylabel = "count";
  hs.zlabel = "count";
  basin::plot::histograms(w, {ra.label, rb.label}, pre + "weights", hs);
  const std::string invariance = rescale == 1      ? ""
                                 : raw_tag.empty() ? "scale_invariance,"
                                                   : "scale_invariance_none" + raw_tag + ",scale_invariance_filter,";
  std::printf(
      "wrote %s{interpolation,line_none%s,line_filter,%sweights}.png (+ .svg, .dat, .gp) and the sweeps' .h5 files\n",
      pre.c_str(), raw_tag.c_str(), invariance.c_str());
  return results;
}
}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(
      argc, argv,
      "Trains one net twice from the same initialization (small and large batch, or SGD and Adam) "
      "and draws the interpolation between the two minimizers, random 1-D lines through each "
      "without and with filter normalization, their weight histograms and scale invariance.");
  const std::string compare = args.get("compare", std::string("batch"),
                                       about{"batch: SGD with a small and a large batch; optimizer: SGD against Adam"});
  const std::string net = args.get("net", std::string("resnet20"), about{"the net trained: resnet20 or vgg9"});
  const long subset = args.get("train-subset", 12000L, about{"training images used (the first N)"});
  const int epochs = args.get("epochs", 6, about{"epochs each minimizer is trained"});
  const long small_batch = args.get("small-batch", 128L, about{"batch size of the first SGD run (and of Adam's)"}),
             large_batch = args.get("large-batch", 1024L, about{"batch size of the second SGD run (--compare batch)"});
  const double lr = args.get("lr", 0.1, about{"SGD learning rate at the start (cosine decay over the epochs)"}),
               adam_lr = args.get("adam-lr", 1e-3, about{"Adam's learning rate at the start (--compare optimizer)"});
  const auto wds = args.get_list<double>(
      "wd", "0", about{"weight decay, or a list: each value trains its own pair and draws its own pictures"});
  const int points =
      args.get("points", 21, about{"grid points along each 1-D line (odd; the interpolation has 2 points - 1)"});
  const long eval_subset = args.get("eval-subset", 1000L, about{"test images the loss is evaluated on at every point"});
  const long train_eval = args.get("train-eval", eval_subset, "--eval-subset's",
                                   about{"training images the training loss is evaluated on (0: none)"});
  const double rescale = args.get(
      "rescale", 10.0, about{"factor on the convs before a batch norm in the scale-invariance picture (1: left out)"});
  const double raw_range =
      args.get("raw-range", 1.0, about{"the lines without normalization run over [-raw-range, raw-range]"});
  const std::string data_dir = basin::examples::fashion_mnist_dir(args);
  const std::string out =
      args.get("out", std::string("lines"), about{"folder the minimizers, pictures and HDF5 files are written to"});
  if (!args.done()) return 0;  // --help
  basin::require(compare == "batch" || compare == "optimizer",
                 "option --compare: expected 'batch' or 'optimizer', got '", compare, "'");
  basin::require(small_batch >= 1, "option --small-batch: expected at least 1 image, got ", small_batch);
  basin::require(large_batch >= 1, "option --large-batch: expected at least 1 image, got ", large_batch);
  basin::require(lr > 0 && adam_lr > 0, "options --lr, --adam-lr: expected positive rates, got ", lr, " and ", adam_lr);
  basin::require(wds.front() >= 0 && std::isfinite(wds.back()),
                 "option --wd: expected weight decays of at least 0, got ", wds.front(), " among them");
  basin::require(lr * wds.back() < 1, "option --wd: expected lr x wd below 1 (each step scales the weights by 1 - lr ",
                 "wd; typical 5e-4), got ", wds.back(), " with --lr ", lr);
  basin::require(points >= 3 && points % 2 == 1 && points <= basin::max_axis_points / 2,
                 "option --points: expected an odd number of points from 3 to ", basin::max_axis_points / 2,
                 " (the grids must hold the minimizers; the interpolation's has 2 points - 1), got ", points);
  basin::require(std::isfinite(rescale) && rescale > 0, "option --rescale: expected a positive factor, got ", rescale);
  basin::require(std::isfinite(raw_range) && raw_range > 0 && raw_range <= 1e6,
                 "option --raw-range: expected a half-width in (0, 1e6], got ", raw_range);
  basin::require(train_eval >= 0, "option --train-eval: expected a number of training images, 0 for none, got ",
                 train_eval);
  basin::require(subset >= 1 && eval_subset >= 1 && epochs >= 1,
                 "options --train-subset, --eval-subset, --epochs: expected at least 1, got ", subset, ", ",
                 eval_subset, " and ", epochs);
  basin::require(net == "resnet20" || net == "vgg9", "option --net: expected 'resnet20' or 'vgg9', got '", net, "'");
  const bool by_batch = compare == "batch";
  const recipe ra{false, small_batch, lr, "SGD, batch " + std::to_string(small_batch)};
  const recipe rb = by_batch ? recipe{false, large_batch, lr, "SGD, batch " + std::to_string(large_batch)}
                             : recipe{true, small_batch, adam_lr, "Adam, batch " + std::to_string(small_batch)};
  auto [train, test, stats] =
      basin::normalize_by_train(basin::read_fashion_mnist(data_dir, true), basin::read_fashion_mnist(data_dir, false));
  train = basin::first_images(train, subset);
  const auto probe = basin::first_images(test, eval_subset);
  // The training loss on the first --train-eval images the nets trained on.
  const auto train_probe = basin::first_images(train, train_eval);
  basin::make_folder(out, "option --out");

  std::vector<result> all;
  for (const double wd : wds) {
    if (wds.size() > 1) std::printf("---- weight decay %g ----\n", wd);
    settings st{by_batch, ra, rb, out, subset, epochs, points, wd, rescale, raw_range};
    const auto r = net == "resnet20" ? compare_minimizers<basin::resnet20<basin::fashion_input>>(
                                           st, train, probe, train_eval ? &train_probe : nullptr)
                                     : compare_minimizers<basin::vgg9<basin::fashion_input>>(
                                           st, train, probe, train_eval ? &train_probe : nullptr);
    all.insert(all.end(), r.begin(), r.end());
  }
  if (wds.size() > 1) {  // the paper's figure 5 as a table: does weight decay change which looks sharper?
    std::printf("\nweight decays side by side (half-width: filter-normalized line, test loss at ln 10):\n");
    std::printf("  %-8s %-18s %9s %9s %12s  %-24s %s\n", "wd", "minimizer", "test loss", "accuracy", "weights' rms",
                "interpolation", "half-width");
    for (const auto& r : all)
      std::printf("  %-8g %-18s %9.4f %8.2f%% %12.4f  %-24s %s\n", r.wd, r.label.c_str(), r.loss, r.acc, r.rms,
                  r.interpolation.c_str(), r.width_filter.c_str());
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "02_line_and_interpolation: %s\n", e.what());
  return 1;
}
