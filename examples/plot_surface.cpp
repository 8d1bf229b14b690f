// examples/plot_surface.cpp — the command-line tool for the zoo, with the reference tool's flags
// (Li et al. 2018, plot_surface.py), so its users' commands carry over:
//
//   plot_surface --model resnet20 --dataset fashion --model_file ckpt.h5 --x=-1:1:51 --y=-1:1:51
//                [--model_file2 b.h5 [--model_file3 c.h5]]
//                --xnorm filter --ynorm filter --xignore biasbn --yignore biasbn
//                --dir_type weights|states [--dir_file dirs.h5] [--surf_file surf.h5]
//                [--data_split test|train|both] [--subset 2000] [--batch_size 500] [--seed 1]
//                [--data_split N --split_idx i] [--raw_data]
//                [--data_dir DIR] [--plot] [--vlevel 0.5 --vmin 0.1 --vmax 10] [--log] [--zmax Z] [--loss_max 5]
//                [--recompute_bn] [--points_per_pass 16] [--loss_name crossentropy|mse] [--proj_file p.h5]
//                [--same_dir] [--idx K] [--threads N] [--mpi] [--cuda]
//
// --y omitted: a 1-D line. --model_file2: the x direction is model_file2 - model_file (states
// included): x = 0 and 1 are the two models (interpolation; the reference tool's --model_file2).
// --model_file3 as well: the plane through three models, y direction model_file3 - model_file.
// Models: resnet20, resnet56, resnet110, plain20, plain56, plain110, resnet56_w2, resnet56_w4,
// plain56_w2, plain56_w4, plain8 (with densenet22, every net 09_architectures trains), resnet8
// (06_trajectory's), densenet22, vgg9 (fashion, 1x28x28) and resnet20, resnet56, resnet110,
// plain20, plain56, plain110, densenet121, vgg9 (cifar10, 3x32x32, read from --data_dir's CIFAR-10
// binary batches: the reference tool's pre-trained models, converted); the reference's
// resnet<depth>_noshort and wrn56_<k>_noshort name the plain nets too, its wrn56_<k> the wide resnets.
// --model_file: a basin checkpoint, or a PyTorch one converted by examples/torch_to_basin.py
// (tensors named and shaped as the reference tool's models name and shape them).
// Directions are created (and saved to --dir_file: by default named by the model files, the
// dir_type and the norm, as the reference tool's) unless --dir_file names an existing file,
// which is then read (the reference tool's direction files work too, and 06_trajectory's
// principal directions); a basin directions file made with another norm, ignore, dir_type, seed
// or net is refused rather than read, and with --model_file2 an existing file must hold the very
// directions between the checkpoints (it is never overwritten). The surface file is
// resumed when it holds the same sweep. --xignore/--yignore and --xnorm/--ynorm must agree
// (basin normalizes both directions alike). --recompute_bn: at every point the batch-norm
// statistics are recomputed on the training images (the subset) before evaluation, instead of
// using the checkpoint's (moved in states mode). --points_per_pass: grid points evaluated per
// pass over the data. --loss_name mse: the loss at every point is the reference tool's MSE of the
// softmax against the one-hot label (recorded in the surface file; the default file name gets
// "_mse"; contour levels default to --vmin 0.01 --vmax 0.2 --vlevel 0.01), instead of the
// cross-entropy. --data_split N (a number, the reference tool's meaning) with --split_idx i: the
// training loss and accuracy on the i-th of N equal consecutive parts of the training set (the
// reference evaluates its training loader, split so that jobs can share a data set); --subset
// then defaults to 0 (the whole part). --raw_data: pixels in [0, 1], not normalized by the
// training set's mean and deviation (only right for a net trained that way). --proj_file: a
// training path projected by plot_trajectory (its directions.h5_proj_cos.h5), drawn on the
// contour maps; sweep the plane of its --dir_file (the reference's plot_2D.py --proj_file).
// --plot: contour lines (_2dcontour), filled contours (_2dcontourf), a heat map (_2dheat) and a
// 3-D surface (_3dsurface) per metric, as plot_2D.py draws them, and a .vtk file (h52vtp.py's).
// --vmin, --vmax and --vlevel give the loss contours' levels (lines and filled), --vmin and
// --vmax the loss heat maps' colour range (plot_2D.py's); --zmax Z cuts the losses' 3-D pictures
// and .vtk files at Z (h52vtp.py's); --log draws the losses on a log scale (then --vmin must be
// positive for a plane). The accuracies' contours take round levels of their own range. A line
// (no --y) draws each metric and <surface>_1d_loss_acc.png (--log: _1d_loss_acc_log.png), the
// losses and accuracies on two axes as plot_1D.py draws them (loss blue, accuracy red, test
// dashed; the accuracy axis is fitted to the data, not 0-100), the loss axis from 0 (--log: from
// the data) to --loss_max (5; 0.2 with mse).
//
// --same_dir: the y direction is the x direction (the reference's; a plane along the diagonal,
// files named _same_dir). --idx K (the reference's repeat index): the K-th pair of random
// directions of the seed (K = 0 the default pair), files named _idx=K, so repeated sweeps around
// one checkpoint keep their own planes (with --model_file2 only the names change, as there).
// --threads N: the OpenMP threads that evaluate the points (the reference's dataloader threads).
//
// Built with MPI (where CMake finds it), `mpirun -np 4 plot_surface ...` shares the sweep among 4
// processes as the reference tool's --mpi: rank 0 writes the directions, the surface file and the
// pictures; every rank computes its share of the points (distributed/mpi.hpp). --mpi itself is
// accepted and changes nothing (the processes mpirun started decide); built without MPI, a
// process that mpirun started as one of several refuses to run (each would sweep every point
// into the same files). --cuda is accepted with a note: this program evaluates on the CPU (the
// CUDA backend is a template argument of programs compiled by nvcc: README, "GPU").
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <utility>

#include "basin/core/files.hpp"
#include "basin/data/cifar.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/io/export.hpp"
#include "basin/landscape/direction_file.hpp"
#include "basin/landscape/surface.hpp"
#include "basin/landscape/trajectory.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/plot/curves.hpp"
#include "basin/plot/surface.hpp"
#include "cli.hpp"
#include "zoo_names.hpp"
#ifdef BASIN_WITH_MPI
#include "basin/distributed/mpi.hpp"
#endif

namespace {
const std::string default_fashion_dir = "/usr/share/datasets/fashion-mnist";  // Debian's dataset-fashion-mnist

struct settings {
  std::string model, dataset, model_file, model_file2, model_file3, dir_file, surf_file, split, data_dir, dir_type;
  std::string proj_file;                    // a projected training path drawn on the contour maps
  std::vector<std::array<double, 2>> path;  // its points
  std::vector<double> x, y;
  basin::direction_options dir;
  long subset = 0, batch = 500, points_per_pass = 16;
  long parts = 0, part = 0;  // --data_split N --split_idx i: the i-th of N parts of the training set
  bool raw_data = false;
  std::uint64_t seed = 1;
  bool same_dir = false;  // --same_dir: y is x
  long idx = 0;           // --idx: the random directions' pair (streams 2 idx, 2 idx + 1)
  bool plot = false, log = false, recompute_bn = false;
  basin::criterion loss = basin::criterion::cross_entropy;
  double vmin = 0.1, vmax = 10, vlevel = 0.5;
  double zmax = -1;                   // the losses' 3-D and .vtk clipping (h52vtp.py's --zmax; <= 0: none)
  double loss_max = 5;                // the top of a line's loss axis (plot_1D.py's --loss_max)
  basin::sweep_team* team = nullptr;  // with MPI and more than one process
};

template <class Net>
int run(const settings& s) {
  using model_t = basin::model<Net, float, basin::backend::host>;
  basin::dataset train, test;
  if (s.dataset == "fashion") {
    const std::string dir = s.data_dir.empty() ? default_fashion_dir : s.data_dir;
    train = basin::read_fashion_mnist(dir, true);
    test = basin::read_fashion_mnist(dir, false);
  } else {
    train = basin::read_cifar10_dir(s.data_dir, true);
    test = basin::read_cifar10_dir(s.data_dir, false);
  }
  if (!s.raw_data) {
    const auto stats = basin::compute_channel_stats(train);
    basin::normalize(train, stats);
    basin::normalize(test, stats);
  }
  if (s.parts > 0) {  // the reference's split: part i is images [i L, (i + 1) L), L = floor(n / N), the rest in none
    const basin::index_t len = train.size() / s.parts;
    basin::require(len >= 1, "option --data_split: ", s.parts, " parts of the ", train.size(),
                   " training images leave none in each");
    train = basin::subset(train, s.part * len, len);
  }
  if (s.subset > 0) {
    train = basin::first_images(train, s.subset);
    test = basin::first_images(test, s.subset);
  }
  model_t m(s.seed);
  basin::load_checkpoint(m, s.model_file);
  const bool plane = !s.y.empty();
  basin::direction<model_t> dx, dy;
  std::function<void()> write_dirs;  // new directions, written once the surface file is accepted
  // Rank 0 alone writes files and prints; every rank decides alike whether directions exist.
  const bool root = s.team == nullptr || s.team->rank() == 0;
  const bool have_dirs = basin::path_exists(s.dir_file, "option --dir_file");
  if (s.team) s.team->barrier();
  const auto say = [root](const char* what, const std::string& file) {
    if (root) std::printf("%s %s\n", what, file.c_str());
  };
  if (!s.model_file2.empty()) {  // directions between checkpoints
    model_t b(s.seed);
    basin::load_checkpoint(b, s.model_file2);
    dx = basin::difference(m, b, true);
    if (plane && s.same_dir) {
      dy = dx;
    } else if (plane) {
      basin::require(!s.model_file3.empty(),
                     "option --y with --model_file2 needs --model_file3 (the plane through three ",
                     "models) or --same_dir");
      model_t c(s.seed);
      basin::load_checkpoint(c, s.model_file3);
      dy = basin::difference(m, c, true);
    }
    basin::direction_options between = s.dir;
    between.states = true;
    if (have_dirs) {  // a rerun: the file must hold these very directions (it is never overwritten)
      const auto mismatch = basin::direction_file_mismatch<model_t>(s.dir_file, nullptr, nullptr);
      basin::require(mismatch.empty(), "option --dir_file: '", s.dir_file, "' exists and ", mismatch,
                     " (remove it or choose another --dir_file)");
      const auto same = [](const basin::direction<model_t>& a, const basin::direction<model_t>& b) {
        return a.params == b.params && a.state == b.state;
      };
      basin::require(same(basin::load_direction<model_t>(s.dir_file, "xdirection"), dx) &&
                         (!plane || same(basin::load_direction<model_t>(s.dir_file, "ydirection"), dy)),
                     "option --dir_file: '", s.dir_file, "' exists and holds other directions than those between ",
                     "the checkpoints (remove it or choose another --dir_file)");
      say("directions between checkpoints found in", s.dir_file);
    } else {
      write_dirs = [&, between] {
        basin::save_directions(s.dir_file, dx, plane ? &dy : nullptr, between, s.seed,
                               [](basin::h5::file& f) { f.set_attr("/", "dir_source", "checkpoints"); });
        say("directions between checkpoints written to", s.dir_file);
      };
    }
  } else if (have_dirs) {
    const auto mismatch = basin::direction_file_mismatch<model_t>(s.dir_file, &s.dir, &s.seed);
    basin::require(mismatch.empty(), "option --dir_file: '", s.dir_file, "' exists and ", mismatch,
                   " (remove it, choose another --dir_file, or give the options it was made with)");
    {  // basin's random directions record their --idx (files from before it hold pair 0)
      auto f = basin::h5::file::open(s.dir_file);
      const bool random =
          f.has_attr("/", "format") && (!f.has_attr("/", "dir_source") || f.attr_string("/", "dir_source").empty());
      const auto was = random && f.has_attr("/", "idx") ? f.attr_u64("/", "idx") : 0;
      basin::require(!random || was == std::uint64_t(s.idx), "option --dir_file: '", s.dir_file,
                     "' exists and holds the random directions of --idx ", was, ", this run's ", s.idx,
                     " (remove it, choose another --dir_file, or give the options it was made with)");
    }
    dx = basin::load_direction<model_t>(s.dir_file, "xdirection");
    if (plane) dy = basin::load_direction<model_t>(s.dir_file, "ydirection");
    basin::require(!s.same_dir || (dx.params == dy.params && dx.state == dy.state), "option --same_dir: '", s.dir_file,
                   "' exists and holds two different directions (remove it or choose another --dir_file)");
    say("directions read from", s.dir_file);
  } else {
    dx = basin::random_direction(m, s.seed, 2 * std::uint64_t(s.idx), s.dir);
    if (plane) dy = s.same_dir ? dx : basin::random_direction(m, s.seed, 2 * std::uint64_t(s.idx) + 1, s.dir);
    write_dirs = [&] {
      basin::save_directions(s.dir_file, dx, plane ? &dy : nullptr, s.dir, s.seed,
                             [&](basin::h5::file& f) { f.set_attr("/", "idx", std::uint64_t(s.idx)); });
      say("directions written to", s.dir_file);
    };
  }
  if (plane && root) std::printf("cosine between the directions: %.4f\n", basin::cosine(dx, dy));
  if (!s.model_file2.empty() && root)  // past the checkpoints a running variance may turn negative
    if (const auto out = basin::points_with_negative_variance(m, dx, s.x, plane ? &dy : nullptr, s.y); out > 0)
      std::printf(
          "note: at %ld of the %zu grid points a running variance turns negative (extrapolated past the "
          "checkpoints): their loss is not defined (NaN, as in PyTorch)\n",
          long(out), s.x.size() * std::max<std::size_t>(1, s.y.size()));
  basin::loss_accuracy metrics{s.split != "test" ? &train : nullptr, s.split != "train" ? &test : nullptr, s.batch,
                               s.recompute_bn ? &train : nullptr};
  metrics.loss = s.loss;
  basin::surface_options so;
  so.points_per_pass = s.points_per_pass;
  so.x = s.x;
  so.y = s.y;
  so.dir_file = s.dir_file;
  so.team = s.team;
  so.on_ready = write_dirs;  // on rank 0 only
  so.settings = "model_file=" + s.model_file + " model_file2=" + s.model_file2 + " model_file3=" + s.model_file3 +
                " dir_file=" + s.dir_file + (s.same_dir ? " same_dir" : "") +
                (s.idx > 0 ? " idx=" + std::to_string(s.idx) : "") + " split=" + s.split +
                (s.parts > 0 ? " part=" + std::to_string(s.part) + "/" + std::to_string(s.parts) : "") +
                (s.raw_data ? " raw_data" : "") + " subset=" + std::to_string(s.subset) +
                (s.recompute_bn ? " recompute_bn=train batch_size=" + std::to_string(s.batch) : "") +
                (s.data_dir.empty() || s.data_dir == default_fashion_dir ? "" : " data_dir=" + s.data_dir);
  const auto st = basin::sweep(m, dx, plane ? &dy : nullptr, s.surf_file, so, metrics.names(), metrics);
  if (!root) return 0;
  std::printf("%s: %lld points computed%s, %lld were already there (%.1f s)\n", s.surf_file.c_str(),
              (long long)st.computed, s.team ? (" by " + std::to_string(s.team->size()) + " processes").c_str() : "",
              (long long)st.skipped, st.seconds);
  auto f = basin::h5::file::open(s.surf_file);
  {  // Each value at the origin (the checkpoint itself, when 0 lies on the axes) and the lowest loss.
    const auto origin = [](const std::vector<double>& a) {
      std::size_t k = 0;
      for (std::size_t i = 1; i < a.size(); ++i)
        if (std::abs(a[i]) < std::abs(a[k])) k = i;
      return std::abs(a[k]) <= 1e-9 * (a.back() - a.front()) ? std::ptrdiff_t(k) : std::ptrdiff_t(-1);
    };
    const std::ptrdiff_t i0 = origin(s.x), j0 = plane ? origin(s.y) : 0;
    const std::size_t ny = plane ? s.y.size() : 1;
    for (const auto& name : metrics.names()) {
      const auto z = basin::surface_values(f, name);
      std::printf("%s:", name.c_str());
      if (i0 >= 0 && j0 >= 0) std::printf(" %.6g at the origin", z[std::size_t(i0) * ny + std::size_t(j0)]);
      std::size_t best = z.size();
      for (std::size_t k = 0; k < z.size(); ++k)
        if (std::isfinite(z[k]) && (best == z.size() || z[k] < z[best])) best = k;
      if (name.find("loss") != std::string::npos && best < z.size()) {
        std::printf("%s lowest %.6g at x = %.4g", i0 >= 0 && j0 >= 0 ? "," : "", z[best], s.x[best / ny]);
        if (plane) std::printf(", y = %.4g", s.y[best % ny]);
      }
      std::printf("\n");
    }
  }
  if (!s.plot) return 0;
  const auto stem = s.surf_file.substr(0, s.surf_file.rfind(".h5"));
  for (const auto& name : metrics.names()) {
    basin::plot::style ps;
    ps.title = s.model + " " + name +
               (s.loss == basin::criterion::mse && name.find("loss") != std::string::npos ? " (MSE)" : "");
    ps.xlabel = "x";
    ps.ylabel = "y";
    ps.zlabel = name;
    const bool loss = name.find("loss") != std::string::npos;
    ps.log_z = s.log && loss;
    const auto z = basin::surface_values(f, name);
    if (plane) {
      basin::plot::grid2d g{s.x, s.y, z, name};
      std::vector<double> levels;
      for (int k = 0; k <= 1000 && s.vmin + k * s.vlevel < s.vmax; ++k) levels.push_back(s.vmin + k * s.vlevel);
      basin::plot::style cs = ps;
      cs.path = s.path;  // plot_trajectory's (the reference's plot_2D.py --proj_file)
      auto filled = levels;
      if (!loss) {  // accuracies: round levels of their own range; the filled bands reach its ends
        levels = filled = basin::plot::data_levels(g, ps.log_z);
        double lo = INFINITY, hi = -INFINITY;
        for (double v : z)
          if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
        filled.insert(filled.begin(), lo);
        filled.push_back(hi);
      }
      basin::plot::contour(g, stem + "_" + name + "_2dcontour", cs, levels);
      basin::plot::filled_contour(g, stem + "_" + name + "_2dcontourf", ps, filled);
      basin::plot::style hs = ps, ss = ps;
      if (loss) hs.vmin = s.vmin, hs.vmax = s.vmax;  // as plot_2D.py's heat map
      if (loss && s.zmax > 0) ss.vmax = s.zmax;      // as h52vtp.py
      basin::plot::heatmap(g, stem + "_" + name + "_2dheat", hs);
      basin::plot::surface3d(g, stem + "_" + name + "_3dsurface", ss);
      basin::write_vtk(g, stem + "_" + name + ".vtk", s.log, loss && s.zmax > 0 ? s.zmax : INFINITY);
    } else {
      if (loss && !s.log) ps.vmin = 0;  // plot_1D.py's ylim(0, loss_max)
      if (loss) ps.vmax = s.loss_max;
      basin::plot::curves({{s.x, z, name}}, {}, stem + "_" + name + "_1d", ps);
    }
  }
  if (!plane) {  // plot_1D.py's first picture: the losses and the accuracies along the line, two axes
    std::vector<basin::plot::curve> losses, accuracies;
    for (const auto& name : metrics.names()) {  // as plot_1D.py: loss blue, accuracy red, test dashed
      const bool loss = name.find("loss") != std::string::npos;
      basin::plot::curve c{s.x, basin::surface_values(f, name), name};
      c.colour = loss ? 0 : 3;
      c.dash = name.starts_with("test") ? 2 : 1;
      (loss ? losses : accuracies).push_back(std::move(c));
    }
    if (!losses.empty() && !accuracies.empty()) {
      basin::plot::style ps;
      ps.title = s.model + (s.loss == basin::criterion::mse ? " loss (MSE) and accuracy" : " loss and accuracy");
      ps.xlabel = "x";
      ps.zlabel = "loss";
      ps.log_z = s.log;
      ps.vmin = s.log ? NAN : 0;
      ps.vmax = s.loss_max;
      basin::plot::curves(losses, accuracies, stem + (s.log ? "_1d_loss_acc_log" : "_1d_loss_acc"), ps);
    }
  }
  std::printf("pictures: %s_*.png/.svg\n", stem.c_str());
  return 0;
}
}  // namespace

static int run_main(int argc, char** argv, basin::sweep_team* team) {
  using basin::examples::about;
  basin::examples::cli a(argc, argv,
                         "Sweeps the loss and accuracy of a zoo net over a 1-D line or 2-D plane of directions "
                         "(random filter-normalized ones, or between checkpoints) with the reference tool's "
                         "(plot_surface.py) options, writes its HDF5 files and, with --plot, its pictures. "
                         "Interrupted, it resumes.");
  settings s;
  s.team = team;
  s.model =
      a.get("model", std::string("resnet20"), about{"the net: resnet20/56/110, plain20/56/110, vgg9, densenet22 ..."});
  s.dataset = a.get("dataset", std::string("fashion"), about{"fashion (1x28x28) or cifar10 (3x32x32)"});
  s.model_file =
      a.get("model_file", std::string(), about{"the checkpoint at the origin (basin's, or PyTorch's converted)"});
  s.model_file2 =
      a.get("model_file2", std::string(), about{"a second checkpoint: x runs from model_file (0) to it (1)"});
  s.model_file3 =
      a.get("model_file3", std::string(), about{"a third checkpoint: y runs from model_file (0) to it (1)"});
  s.x = basin::parse_range(
      a.get("x", std::string("-1:1:51"), about{"the x axis, lo:hi:points, in units of the direction"}), "--x");
  const auto ytext = a.get("y", std::string(), about{"the y axis, lo:hi:points; none: a 1-D line"});
  if (!ytext.empty()) s.y = basin::parse_range(ytext, "--y");
  s.dir_type = a.get("dir_type", std::string("weights"),
                     about{"weights, or states: the batch-norm running statistics move too"});
  const auto xnorm = a.get("xnorm", std::string("filter"),
                           about{"the directions' normalization: filter, layer, weight or none"}),
             ynorm = a.get("ynorm", xnorm, "--xnorm's", about{"must equal --xnorm"});
  const auto xignore = a.get("xignore", std::string("biasbn"),
                             about{"biasbn: biases and batch-norm parameters stay put; empty (--xignore=): they move"}),
             yignore = a.get("yignore", xignore, "--xignore's", about{"must equal --xignore"});
  s.split =
      a.get("data_split", std::string("test"), about{"test, train or both; a number N: the training set in N parts"});
  const long split_idx =
      a.get("split_idx", 0L, "0; the part to sweep when --data_split is a number of parts", about{"which part"});
  // A number is the reference tool's --data_split: that many parts of the training set.
  if (!s.split.empty() && s.split.find_first_not_of("0123456789") == std::string::npos) {
    basin::require(s.split.size() <= 6, "option --data_split: expected at most 999999 parts, got ", s.split);
    s.parts = std::stol(s.split);
    basin::require(s.parts >= 1, "option --data_split: expected at least 1 part, got ", s.parts);
    s.part = split_idx;
    basin::require(s.part >= 0 && s.part < s.parts, "option --split_idx: expected 0 to ", s.parts - 1,
                   " (the parts of --data_split ", s.parts, "), got ", s.part);
    s.split = "train";
  } else {
    basin::require(!a.has("split_idx") || a.help(),
                   "option --split_idx: only with a number of parts in --data_split (got '", s.split, "')");
  }
  const bool subset_given = a.has("subset");
  s.raw_data = a.flag("raw_data", about{"pixels in [0, 1], not normalized (only for a net trained so)"});
  s.subset = a.get("subset", s.parts > 0 && !subset_given ? 0L : 2000L,
                   "2000 images; 0 is all, the default with a number of parts in --data_split",
                   about{"images each point's loss and accuracy are taken on"});
  s.batch = a.get("batch_size", 500L, about{"images per forward pass"});
  s.seed = a.get("seed", std::uint64_t(1), about{"seed of the random directions"});
  s.data_dir = a.get("data_dir", std::string(), "Debian's fashion-mnist folder; cifar10 needs one",
                     about{"the data set's folder"});
  s.plot = a.flag("plot", about{"draw contours, heat maps, 3-D surfaces (a line: its curves) and a .vtk file"});
  s.proj_file = a.get("proj_file", std::string(), "none",
                      about{"a training path projected by plot_trajectory, drawn on the contour maps"});
  s.recompute_bn =
      a.flag("recompute_bn",
             about{"recompute the batch-norm statistics at every point on the training images (--subset of them)"});
  s.points_per_pass = a.get("points_per_pass", 16L, about{"grid points evaluated per pass over the data"});
  s.log = a.flag("log", about{"draw the losses on a log scale"});
  s.loss =
      basin::criterion_from_name(a.get("loss_name", std::string("crossentropy"),
                                       about{"crossentropy, or mse: the softmax's squared error to the one-hot label"}),
                                 "option --loss_name");
  // Contour levels: the reference tool's for the cross-entropy; the MSE lies in [0, 2/classes].
  const bool mse = s.loss == basin::criterion::mse;
  s.vmin = a.get("vmin", mse ? 0.01 : 0.1, "0.1, 0.01 with --loss_name mse",
                 about{"the lowest loss contour and heat-map colour"});
  s.vmax = a.get("vmax", mse ? 0.2 : 10.0, "10, 0.2 with --loss_name mse",
                 about{"the loss heat map's top colour; the contours stop below it (numpy.arange's end)"});
  s.vlevel =
      a.get("vlevel", mse ? 0.01 : 0.5, "0.5, 0.01 with --loss_name mse", about{"the spacing of the loss contours"});
  s.zmax = a.get("zmax", -1.0, "-1: no clipping", about{"the losses' 3-D pictures and .vtk file cut at this height"});
  s.loss_max = a.get("loss_max", mse ? 0.2 : 5.0, "5, 0.2 with --loss_name mse", about{"a line's loss axis ends here"});
  s.same_dir = a.flag("same_dir", about{"the y direction is the x direction (a plane along the diagonal)"});
  s.idx = a.get("idx", 0L,
                about{"the repeat's index K: the K-th pair of random directions of the seed, files named _idx=K"});
  const long threads = a.get("threads", 0L, "0: OMP_NUM_THREADS, else every core",
                             about{"OpenMP threads that evaluate the points (the reference's dataloader threads)"});
  a.flag("mpi", about{"accepted: under mpirun the processes share the sweep whether or not it is given"});
  const bool cuda = a.flag("cuda", about{"accepted with a note: this program evaluates on the CPU"});
  basin::require(s.model_file3.empty() || a.help() || (!s.model_file2.empty() && !s.y.empty()),
                 "option --model_file3: the plane through three models needs --model_file2 and --y too (",
                 s.model_file2.empty() && s.y.empty() ? "neither was given"
                 : s.model_file2.empty()              ? "no --model_file2 was given"
                                                      : "no --y was given",
                 ")");
  basin::require(!s.plot || a.help() || (s.x.size() >= 2 && (s.y.empty() || s.y.size() >= 2)),
                 "option --plot: the pictures need at least 2 points on each axis, got ", s.x.size(), " on --x",
                 s.y.empty() ? std::string() : basin::text(" and ", s.y.size(), " on --y"));
  // As the reference tool's names: the other checkpoints' names are part of the name, so that a
  // random plane and the plane through checkpoints on the same --model_file do not share files.
  const auto without_h5 = [](const std::string& f) { return f.ends_with(".h5") ? f.substr(0, f.size() - 3) : f; };
  const auto stem = [&](const std::string& f) { return without_h5(f.substr(f.rfind('/') + 1)); };
  const std::string base = without_h5(s.model_file);
  const std::string kind =
      (s.model_file2.empty()
           ? s.dir_type + "_" + xnorm
           : stem(s.model_file2) + (s.model_file3.empty() ? "" : "_" + stem(s.model_file3)) + "_states") +
      (s.same_dir ? "_same_dir" : "") + (s.idx > 0 ? "_idx=" + std::to_string(s.idx) : "");
  s.dir_file = a.get("dir_file", base + "_" + kind + (s.y.empty() ? "_1d" : "_2d") + "_dirs.h5",
                     "<model_file without .h5>_<dir_type>_<xnorm>[_same_dir][_idx=K]_<1d|2d>_dirs.h5; with "
                     "--model_file2: <model_file without .h5>_<model_file2's name>[_<model_file3's "
                     "name>]_states[_same_dir][_idx=K]_<1d|2d>_dirs.h5",
                     about{"the directions: read when it exists, else made and written there"});
  s.surf_file =
      a.get("surf_file",
            s.dir_file.substr(0, s.dir_file.rfind("_dirs.h5")) + (s.loss == basin::criterion::mse ? "_mse" : "") +
                (s.parts > 0 ? "_split" + std::to_string(s.part) + "of" + std::to_string(s.parts) : "") + "_surface.h5",
            "the --dir_file's name ending [_mse][_split<i>of<n>]_surface.h5",
            about{"the surface: resumed when it holds the same sweep"});
  if (!a.done(team == nullptr || team->rank() == 0 ? stdout : nullptr)) return 0;  // --help: rank 0 prints
  basin::require(s.subset >= 0, "option --subset: expected 0 (all images) or more, got ", s.subset);
  basin::require(s.batch >= 1, "option --batch_size: expected at least 1, got ", s.batch);
  basin::require(std::isfinite(s.vmin) && std::isfinite(s.vmax) && s.vmin < s.vmax && s.vlevel > 0 &&
                     (s.vmax - s.vmin) / s.vlevel <= 1000,
                 "options --vmin, --vmax, --vlevel: expected vmin < vmax and a spacing vlevel > 0 giving at most 1000 ",
                 "contour levels, got ", s.vmin, ", ", s.vmax, ", ", s.vlevel);
  basin::require(!s.log || !s.plot || s.y.empty() || s.vmin > 0,  // (a plane's contour levels)
                 "option --vmin: with --log expected a positive value, got ", s.vmin);
  basin::require(std::isfinite(s.zmax), "option --zmax: expected a number (<= 0: no clipping), got ", s.zmax);
  basin::require(std::isfinite(s.loss_max) && s.loss_max > 0, "option --loss_max: expected a positive number, got ",
                 s.loss_max);
  basin::require(s.proj_file.empty() || (s.plot && !s.y.empty()),
                 "option --proj_file: draws a path on the contour maps of a plane, so it needs --y and --plot");
  if (!s.proj_file.empty()) {  // read before the sweep: a bad file is named at once
    basin::require(basin::path_exists(s.proj_file, "option --proj_file"), "option --proj_file: no file '", s.proj_file,
                   "'");
    try {
      s.path = basin::load_projection(s.proj_file);
    } catch (const basin::error& e) {
      basin::fail("option --proj_file: ", e.what());
    }
  }
  basin::require(s.points_per_pass >= 1, "option --points_per_pass: expected at least 1, got ", s.points_per_pass);
  basin::require(s.idx >= 0 && s.idx <= 249, "option --idx: expected 0 to 249, got ", s.idx);
  basin::require(!s.same_dir || !s.y.empty(), "option --same_dir: makes the y direction, so it needs --y");
  basin::require(!s.same_dir || s.model_file3.empty(),
                 "options --same_dir and --model_file3 each set the y direction: give one of them");
  basin::require(threads >= 0 && threads <= 4096, "option --threads: expected 0 (the default) to 4096, got ", threads);
  if (threads > 0) omp_set_num_threads(int(threads));
#ifndef BASIN_WITH_MPI
  basin::require(basin::examples::launched_processes() == 1, "started by an MPI launcher as one of ",
                 basin::examples::launched_processes(),
                 " processes, but this plot_surface was built without MPI: each would sweep every point into the same "
                 "files (install an MPI, e.g. libopenmpi-dev, and build again, or run one process)");
#endif
  if (cuda && (team == nullptr || team->rank() == 0))
    std::printf(
        "note: --cuda: plot_surface evaluates on the CPU (the CUDA backend is a template argument of "
        "programs nvcc compiles: README, \"GPU\")\n");
  basin::require(!s.model_file.empty(),
                 "option --model_file: required (a checkpoint written by basin, or a PyTorch one converted by "
                 "examples/torch_to_basin.py)");
  basin::require(xnorm == ynorm && xignore == yignore, "options --xnorm/--ynorm and --xignore/--yignore must agree");
  basin::require(xignore == "biasbn" || xignore.empty(), "option --xignore: expected biasbn or nothing, got '",
                 xignore, "'");
  basin::require(s.dir_type == "weights" || s.dir_type == "states", "option --dir_type: expected weights or states, got '",
                 s.dir_type, "'");
  basin::require(s.split == "test" || s.split == "train" || s.split == "both",
                 "option --data_split: expected test, train, both or a number of parts, got '", s.split, "'");
  basin::require(s.dataset == "fashion" || s.dataset == "cifar10", "option --dataset: expected fashion or cifar10, got '",
                 s.dataset, "'");
  s.dir = {basin::parse_normalization(xnorm, "option --xnorm"), xignore == "biasbn", s.dir_type == "states"};
  if (s.dataset == "cifar10")
    basin::require(!s.data_dir.empty(), "option --data_dir: required for cifar10 (the folder of data_batch_1.bin ...)");
  // The reference tool's names too (its pre-trained CIFAR-10 models include resnet56_noshort and
  // resnet110_noshort); the pictures' titles give basin's.
  const std::string asked = s.model;
  s.model = basin::examples::zoo_name(asked);
  return basin::examples::with_zoo_net(s.dataset, asked, [&]<class Net>() { return run<Net>(s); });
}

int main(int argc, char** argv) {
#ifdef BASIN_WITH_MPI
  basin::mpi::environment env(argc, argv);
  basin::mpi::team world;
  basin::sweep_team* team = world.size() > 1 ? &world : nullptr;
#else
  basin::sweep_team* team = nullptr;
#endif
  try {
    return run_main(argc, argv, team);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plot_surface: %s\n", e.what());
#ifdef BASIN_WITH_MPI
    if (team) basin::mpi::abort_all(1);  // the other ranks may wait in a collective call
#endif
    return 1;
  }
}
