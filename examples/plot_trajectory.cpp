// examples/plot_trajectory.cpp — a training run's path along its principal directions, with the
// reference tool's flags (Li et al. 2018, plot_trajectory.py), so its users' commands carry over:
//
//   plot_trajectory --model resnet20 --dataset fashion --model_folder resnet20_fmnist --prefix epoch_
//                   --suffix .h5 --start_epoch 1 --max_epoch 6 [--save_epoch 1] [--dir_type weights|states]
//                   [--ignore biasbn] [--dir_file dirs.h5] [--proj_method cos|lstsq]
//
// Reads the checkpoints <model_folder>/<prefix><epoch><suffix> for epoch = start_epoch,
// start_epoch + save_epoch, ..., max_epoch (every one must exist; the last is the final weights
// w*), finds the two principal directions of the path w_i - w* (landscape/trajectory.hpp: PCA as
// the reference's sklearn call computes it, signs included), projects every checkpoint on them,
// and writes, as the reference tool names them:
//   <model_folder>/PCA_<dir_type>[_ignore=biasbn]_save_epoch=<k>/directions.h5   pc1, pc2 and
//       explained_variance_ratio_ etc. (reused when it exists and holds this run's directions)
//   .../directions.h5_proj_<method>.h5           proj_xcoord, proj_ycoord (one point per checkpoint)
//   .../directions.h5_proj_<method>.h5.{png,svg} the path on the plane of pc1 and pc2
// and prints the plot_surface command that sweeps the loss over the plane around the path and
// draws the path on its contours (plot_surface --dir_file ... --proj_file ...; the reference's
// plot_2D.py --proj_file). Checkpoints are basin's (01_train's epoch_<k>.h5, 06_trajectory's
// model_<k>.h5) or PyTorch's converted by examples/torch_to_basin.py (the reference's
// model_<k>.t7 -> model_<k>.h5). --ignore biasbn leaves biases and batch-norm parameters out of
// the differences (the reference's default is to keep them); --dir_type states adds the
// batch-norm running statistics. --model and --dataset as plot_surface's (its nets and names).
// An existing --dir_file is used as it is, as the reference uses it: the path projected on its
// directions (principal or random), no PCA; the default directions file, when it exists, must
// hold this path's principal directions (after other --start_epoch or --max_epoch it does not:
// remove it). The printed plot_surface ranges have 0 (the last checkpoint) on the grid.
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>

#include "basin/core/files.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/trajectory.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/plot/curves.hpp"
#include "cli.hpp"
#include "zoo_names.hpp"

namespace {

struct settings {
  std::string model, asked, dataset, folder, prefix, suffix, dir_file, dir_type, ignore;  // asked: --model as given
  long start = 0, max = 300, every = 1;
  basin::projection_method method = basin::projection_method::cos;
};

// "a:b:n" for plot_surface's --x and --y: n points covering v with a margin (covering_range),
// with 0, the final weights, one of them: the step is rounded up to two significant digits and
// the range starts a whole number of steps below 0 (one step of slack keeps v covered).
std::string range_text(const std::vector<double>& v, int n) {
  const auto r = basin::covering_range(v, n);
  double step = (r.back() - r.front()) / (n - 2);
  const double unit = std::pow(10.0, std::floor(std::log10(step)) - 1);
  step = std::ceil(step / unit - 1e-9) * unit;
  const double lo = -std::ceil(-r.front() / step - 1e-9) * step;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.10g:%.10g:%d", lo, lo + (n - 1) * step, n);
  return buf;
}

template <class Net>
int run(const settings& s) {
  using model_t = basin::model<Net, float, basin::backend::host>;
  const auto file_of = [&](long e) { return s.folder + "/" + s.prefix + std::to_string(e) + s.suffix; };
  std::vector<std::string> files;
  for (long e = s.start; e <= s.max; e += s.every) {
    const auto f = file_of(e);
    basin::require(basin::path_exists(f, "option --model_folder"), "option --model_folder: no checkpoint '", f,
                   "' (epochs ", s.start, " to ", s.max, " every ", s.every, " with --prefix '", s.prefix,
                   "' and --suffix '", s.suffix, "')");
    files.push_back(f);
  }
  basin::require(files.size() >= 3 && (s.max - s.start) % s.every == 0,
                 "options --start_epoch, --max_epoch, --save_epoch: expected at least 3 checkpoints ending at ",
                 "--max_epoch (the final weights), got epochs ", s.start, " to ", s.max, " every ", s.every);
  model_t final_model(0);
  basin::load_checkpoint(final_model, files.back());
  basin::trajectory<model_t> path;
  for (const auto& f : files) path.add_checkpoint(f);
  std::printf("%zu checkpoints of %s from %s to %s\n", files.size(), s.model.c_str(), files.front().c_str(),
              files.back().c_str());

  const basin::pca_options po{s.ignore == "biasbn", s.dir_type == "states"};
  const std::string folder = s.folder + "/PCA_" + s.dir_type + (s.ignore.empty() ? "" : "_ignore=" + s.ignore) +
                             "_save_epoch=" + std::to_string(s.every);
  const std::string dir_file = s.dir_file.empty() ? folder + "/directions.h5" : s.dir_file;
  basin::direction<model_t> dx, dy;
  std::array<double, 2> explained{NAN, NAN};  // the variance ratios of principal directions
  const bool exists = basin::path_exists(dir_file, "option --dir_file");
  const bool from_file = exists && !s.dir_file.empty();  // the reference's --dir_file: no PCA
  if (from_file) {
    // The reference's --dir_file: the path projected on the directions in the file as they are
    // (principal ones, or plot_surface's random ones); no PCA.
    const auto mismatch = basin::direction_file_mismatch<model_t>(dir_file, nullptr, nullptr);  // the net only
    basin::require(mismatch.empty(), "option --dir_file: '", dir_file, "' ", mismatch);
    dx = basin::load_direction<model_t>(dir_file, "xdirection");
    dy = basin::load_direction<model_t>(dir_file, "ydirection");
    auto f = basin::h5::file::open(dir_file);
    // What the directions hold must be what the projection takes (--ignore, --dir_type), as the
    // printed plot_surface command repeats them; a file without these attributes (the
    // reference's) is taken as it is.
    for (const auto& [attr, want, option] :
         {std::tuple<const char*, std::string, const char*>{"ignore", s.ignore, "--ignore"},
          {"dir_type", s.dir_type, "--dir_type"}})
      if (f.has_attr("/", attr))
        basin::require(f.attr_string("/", attr) == want, "option --dir_file: '", dir_file, "' was made with ", attr,
                       " '", f.attr_string("/", attr), "', this run's ", option, " is '", want, "'");
    if (f.is_dataset("explained_variance_ratio_")) {
      const auto r = f.read<double>("explained_variance_ratio_");
      if (r.size() == 2) explained = {r[0], r[1]};
    }
    std::printf("projecting on the directions in %s%s\n", dir_file.c_str(),
                std::isnan(explained[0]) && s.method == basin::projection_method::cos
                    ? " (not principal ones: unless they are unit vectors, --proj_method lstsq gives the "
                      "coordinates a sweep over them uses)"
                    : "");
  } else {
    // The path's principal directions: computed, and when the default file exists, compared with
    // those in it (the reference reuses a file it finds; basin refuses one of another path, e.g.
    // other --start_epoch or --max_epoch, rather than draw this path on a plane it does not span).
    auto pca = basin::principal_directions(path, final_model, po);
    explained = pca.explained_variance_ratio;
    if (exists) {
      const basin::direction_options o{basin::normalization::none, po.ignore_bias_bn, po.states};
      const auto mismatch = basin::direction_file_mismatch<model_t>(dir_file, &o, nullptr);
      basin::require(mismatch.empty(), "'", dir_file, "' exists and ", mismatch,
                     " (remove it, or give the --dir_type and --ignore it was made with)");
      auto x = basin::load_direction<model_t>(dir_file, "xdirection"),
           y = basin::load_direction<model_t>(dir_file, "ydirection");
      const double cos_x = std::abs(basin::cosine(x, pca.x)), cos_y = std::abs(basin::cosine(y, pca.y));
      basin::require(cos_x > 0.999 && cos_y > 0.999, "'", dir_file,
                     "' exists and holds the principal directions of another path (|cosine| with this one's ", cos_x,
                     " and ", cos_y, "; other epochs?): remove it, or give --dir_file to project on it");
      std::printf("directions read from %s (this path's)\n", dir_file.c_str());
      dx = x;
      dy = y;
    } else {
      const auto parent = std::filesystem::path(dir_file).parent_path();
      if (!parent.empty())
        basin::make_folder(parent, s.dir_file.empty() ? "the directions' folder" : "option --dir_file");
      basin::save_pca_directions(dir_file, pca, po, path.size());
      std::printf("directions written to %s\n", dir_file.c_str());
      dx = pca.x;
      dy = pca.y;
    }
  }
  if (!std::isnan(explained[0]))
    std::printf("pc1 holds %.2f%% of %s, pc2 %.2f%% (together %.2f%%)\n", 100 * explained[0],
                from_file ? "the variance of the path the file was made from" : "the path's variance",
                100 * explained[1], 100 * (explained[0] + explained[1]));

  const auto xy = basin::project(path, final_model, dx, dy, s.method, po);
  std::vector<std::string> labels;
  for (basin::index_t i = 0; i < path.size(); ++i) labels.push_back(path.label(i));
  const auto proj_file = basin::projection_file(dir_file, s.method);
  basin::save_projection(proj_file, xy, s.method, labels);
  std::printf("  epoch  position on the plane\n");
  std::vector<double> px, py;
  for (std::size_t i = 0; i < xy.size(); ++i) {
    std::printf("  %5ld  (%9.4f, %9.4f)\n", s.start + long(i) * s.every, xy[i][0], xy[i][1]);
    px.push_back(xy[i][0]);
    py.push_back(xy[i][1]);
  }
  basin::plot::style ps;
  ps.title = s.asked + (from_file ? ": the training path on the given directions"
                                  : ": the training path on its principal directions");
  ps.xlabel = std::isnan(explained[0]) ? std::string("direction 1")
                                       : basin::text("1st PC: ", std::round(1e4 * explained[0]) / 100, " %");
  ps.zlabel = std::isnan(explained[1]) ? std::string("direction 2")
                                       : basin::text("2nd PC: ", std::round(1e4 * explained[1]) / 100, " %");
  basin::plot::curve c{px, py,
                       "epochs " + std::to_string(s.start) + " to " + std::to_string(s.max) + " (one dot each)"};
  c.points = true;
  basin::plot::curves({c}, {}, proj_file, ps);
  std::printf("wrote %s and %s.png (+ .svg)\nthe loss around the path:\n", proj_file.c_str(), proj_file.c_str());
  std::printf(
      "  plot_surface --model %s --dataset %s%s --model_file %s --dir_file %s --dir_type %s --xignore '%s' "
      "--x=%s --y=%s --proj_file %s --plot\n",
      s.asked.c_str(), s.dataset.c_str(), s.dataset == "cifar10" ? " --data_dir <folder of data_batch_*.bin>" : "",
      files.back().c_str(), dir_file.c_str(), s.dir_type.c_str(), s.ignore.c_str(), range_text(px, 21).c_str(),
      range_text(py, 21).c_str(), proj_file.c_str());
  return 0;
}
}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli a(argc, argv,
                         "Finds the two principal directions of a training run's checkpoints, projects its path on "
                         "them and draws it, with the reference tool's (plot_trajectory.py) options; prints the "
                         "plot_surface command that draws the path over the loss contours.");
  settings s;
  s.model = a.get("model", std::string("resnet20"), about{"the net, as plot_surface's --model"});
  s.dataset = a.get("dataset", std::string("fashion"), about{"fashion or cifar10"});
  s.folder = a.get("model_folder", std::string(), about{"the folder of the run's checkpoints (required)"});
  s.prefix = a.get("prefix", std::string("model_"), about{"checkpoint names: <prefix><epoch><suffix>"});
  s.suffix = a.get("suffix", std::string(".h5"), about{"see --prefix"});
  s.start = a.get("start_epoch", 0L, about{"the first checkpoint's epoch"});
  s.max = a.get("max_epoch", 300L, about{"the last checkpoint's epoch: the final weights, the origin"});
  s.every = a.get("save_epoch", 1L, about{"epochs between the checkpoints read"});
  s.dir_file = a.get(
      "dir_file", std::string(), "<model_folder>/PCA_<dir_type>[_ignore=<ignore>]_save_epoch=<k>/directions.h5",
      about{"the directions: an existing file is projected on as it is (no PCA), else the PCA's are written there"});
  s.dir_type =
      a.get("dir_type", std::string("weights"), about{"weights, or states: with the batch-norm running statistics"});
  s.ignore = a.get("ignore", std::string(), about{"biasbn: leave biases and batch-norm parameters out of the path"});
  const auto method = a.get("proj_method", std::string("cos"),
                            about{"cos (each checkpoint's component along pc1 and pc2) or lstsq (least squares)"});
  if (!a.done()) return 0;  // --help
  basin::require(method == "cos" || method == "lstsq", "option --proj_method: expected cos or lstsq, got '", method,
                 "'");
  s.method = basin::parse_projection_method(method);
  basin::require(!s.folder.empty(), "option --model_folder: required (the folder of the run's checkpoints)");
  basin::require(s.every >= 1, "option --save_epoch: expected at least 1, got ", s.every);
  basin::require(s.start >= 0 && s.max >= s.start,
                 "options --start_epoch, --max_epoch: expected 0 <= start <= max, got ", s.start, " and ", s.max);
  basin::require(s.dir_type == "weights" || s.dir_type == "states",
                 "option --dir_type: expected weights or states, got '", s.dir_type, "'");
  basin::require(s.ignore == "biasbn" || s.ignore.empty(), "option --ignore: expected biasbn or nothing, got '",
                 s.ignore, "'");
  basin::require(s.dataset == "fashion" || s.dataset == "cifar10",
                 "option --dataset: expected fashion or cifar10, got '", s.dataset, "'");
  // plot_surface's models and names (the command printed at the end is plot_surface's).
  s.asked = s.model;
  s.model = basin::examples::zoo_name(s.asked);
  return basin::examples::with_zoo_net(s.dataset, s.asked, [&]<class Net>() { return run<Net>(s); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "plot_trajectory: %s\n", e.what());
  return 1;
}
