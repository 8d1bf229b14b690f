// Training paths along principal directions: a path in a known plane against the closed form,
// random paths against a full SVD of the centered snapshot matrix, projections, the variance a
// plane holds, the files, and the errors.
#include <Eigen/SVD>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <limits>

#include "../checks.hpp"
#include "../scratch.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/landscape/trajectory.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"

using namespace basin;
namespace fs = std::filesystem;

namespace {
using basin::test::worse;
std::string trajectory_temp(const std::string& name) {
  return test::scratch_path("trajectory_" + name);
}
using path_net = network<input<2, 5, 5>, named<"conv", conv<3, 3>>, named<"bn", batch_norm>, relu, global_avg_pool,
                         named<"fc", dense<4>>>;
using path_model = model<path_net, double>;

// A random vector on the multi-axis tensors (zero on biases and batch-norm parameters).
direction<path_model> random_weights_only(std::uint64_t seed) {
  direction<path_model> d;
  const counter_rng rng{seed, 77};
  for (const auto& t : path_model::param_table)
    if (t.rank > 1)
      for (index_t i = 0; i < t.size(); ++i)
        d.params[std::size_t(t.offset + i)] = rng.normal(std::uint64_t(t.offset + i));
  return d;
}
double dot_params(const direction<path_model>& a, const direction<path_model>& b) {
  double s = 0;
  for (index_t i = 0; i < path_model::n_params; ++i) s += a.params[std::size_t(i)] * b.params[std::size_t(i)];
  return s;
}
// m.params = origin + sum_k c_k v_k, and bias noise of size `noise` (left out by ignore_bias_bn).
void place(path_model& m, const path_model& origin,
           const std::vector<std::pair<double, const direction<path_model>*>>& c, double noise, std::uint64_t seed) {
  const counter_rng rng{seed, 5};
  for (index_t i = 0; i < path_model::n_params; ++i) {
    double v = origin.params[std::size_t(i)];
    for (const auto& [a, d] : c) v += a * d->params[std::size_t(i)];
    m.params[std::size_t(i)] = v;
  }
  for (const auto& t : path_model::param_table)
    if (t.rank <= 1)
      for (index_t i = 0; i < t.size(); ++i)
        m.params[std::size_t(t.offset + i)] += noise * rng.normal(std::uint64_t(i));
}

// An orthonormal pair e1, e2 on the weights, and the path through w* + a_i e1 + b_i e2.
struct planar_path {
  path_model final_model{1}, scratch{2};
  direction<path_model> e1 = random_weights_only(11), e2 = random_weights_only(12);
  trajectory<path_model> path;
  std::vector<double> a{4, -3, 2, -3, 0}, b{1, 1, -1, -1, 0};
  planar_path() {
    const double n1 = std::sqrt(dot_params(e1, e1));
    for (index_t i = 0; i < path_model::n_params; ++i) e1.params[std::size_t(i)] /= n1;
    const double c = dot_params(e1, e2);
    for (index_t i = 0; i < path_model::n_params; ++i) e2.params[std::size_t(i)] -= c * e1.params[std::size_t(i)];
    const double n2 = std::sqrt(dot_params(e2, e2));
    for (index_t i = 0; i < path_model::n_params; ++i) e2.params[std::size_t(i)] /= n2;
    for (std::size_t i = 0; i < a.size(); ++i) {
      place(scratch, final_model, {{a[i], &e1}, {b[i], &e2}}, 0.5, i);
      path.add(scratch);
    }
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(principal_directions_of_a_planar_path_match_the_closed_form) {
  planar_path p;
  auto pca = principal_directions(p.path, p.final_model);
  // The centered (a, b) have sums of squares and products Saa = 38, Sbb = 4, Sab = 2 (means 0);
  // the eigenvalues of [[38, 2], [2, 4]] are 21 +- sqrt(17^2 + 2^2), pc1 at angle theta to e1
  // with tan(2 theta) = 2 Sab / (Saa - Sbb).
  const double r = std::sqrt(17.0 * 17.0 + 4.0), l1 = 21 + r, l2 = 21 - r, theta = 0.5 * std::atan2(4.0, 34.0);
  BOOST_TEST(pca.singular_values[0] == std::sqrt(l1), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(pca.singular_values[1] == std::sqrt(l2), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(pca.explained_variance[0] == l1 / 4, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(pca.explained_variance_ratio[0] == l1 / 42, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(pca.explained_variance_ratio[1] == l2 / 42, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(pca.total_variance == 42.0 / 4, boost::test_tools::tolerance(1e-12));
  // pc1 = cos(theta) e1 + sin(theta) e2, signed so that snapshot 0 (the largest |u| entry) is positive;
  // pc2 = -sin(theta) e1 + cos(theta) e2 up to the sign of its own largest entry.
  const double c = std::cos(theta), s = std::sin(theta);
  std::vector<double> u2;
  for (std::size_t i = 0; i < p.a.size(); ++i) u2.push_back(-s * p.a[i] + c * p.b[i]);  // the mean is 0
  std::size_t at = 0;
  for (std::size_t i = 0; i < u2.size(); ++i)
    if (std::fabs(u2[i]) > std::fabs(u2[at])) at = i;
  const double sign2 = u2[at] > 0 ? 1 : -1;
  double worst = 0;
  for (index_t i = 0; i < path_model::n_params; ++i) {
    const double e1 = p.e1.params[std::size_t(i)], e2 = p.e2.params[std::size_t(i)];
    worst = worse(worst, std::fabs(pca.x.params[std::size_t(i)] - (c * e1 + s * e2)));
    worst = worse(worst, std::fabs(pca.y.params[std::size_t(i)] - sign2 * (-s * e1 + c * e2)));
  }
  BOOST_TEST(worst < 1e-12);
  // The biases moved (noise 0.5) but were left out; they are zero in the components.
  for (const auto& t : path_model::param_table)
    if (t.rank <= 1)
      for (index_t i = 0; i < t.size(); ++i) BOOST_TEST(pca.x.params[std::size_t(t.offset + i)] == 0.0);

  // The path lies in the plane: its projection keeps the snapshots' distances to w*, the plane
  // holds all of its variance, and lstsq equals cos for these orthonormal directions.
  auto xy = project(p.path, p.final_model, pca.x, pca.y);
  auto ls = project(p.path, p.final_model, pca.x, pca.y, projection_method::lstsq);
  for (std::size_t i = 0; i < p.a.size(); ++i) {
    BOOST_TEST(std::hypot(xy[i][0], xy[i][1]) == std::hypot(p.a[i], p.b[i]), boost::test_tools::tolerance(1e-10));
    BOOST_TEST(ls[i][0] == xy[i][0], boost::test_tools::tolerance(1e-10));
    BOOST_TEST(xy[i][0] == c * p.a[i] + s * p.b[i], boost::test_tools::tolerance(1e-10));
  }
  BOOST_TEST(std::fabs(xy[4][0]) + std::fabs(xy[4][1]) < 1e-12);  // the last snapshot is w*
  BOOST_TEST(variance_in_plane(p.path, p.final_model, pca.x, pca.y) == 1.0, boost::test_tools::tolerance(1e-12));
}

// Snapshots far from w* compared with their spread: w* + e0 + eps (a_i e1 + b_i e2). The plane
// (e1, e2) holds all of the variance; the total taken as sum |d_i|^2 - n |mean|^2 lost it to
// cancellation (1.17 at eps 1e-8, "do not vary" at 1e-9).
BOOST_AUTO_TEST_CASE(variance_in_plane_of_a_path_far_from_its_end) {
  planar_path p;
  direction<path_model> e0 = random_weights_only(13);
  double n0 = 0;
  for (int pass = 0; pass < 2; ++pass) {  // e0 orthogonal to e1 and e2, then unit
    for (const auto* e : {&p.e1, &p.e2}) {
      const double c = dot_params(e0, *e);
      for (index_t i = 0; i < path_model::n_params; ++i) e0.params[std::size_t(i)] -= c * e->params[std::size_t(i)];
    }
    n0 = std::sqrt(dot_params(e0, e0));
    for (index_t i = 0; i < path_model::n_params; ++i) e0.params[std::size_t(i)] /= n0;
  }
  for (const double eps : {1e-6, 1e-8, 1e-9}) {
    trajectory<path_model> far;
    for (std::size_t i = 0; i < p.a.size(); ++i) {
      place(p.scratch, p.final_model, {{1.0, &e0}, {eps * p.a[i], &p.e1}, {eps * p.b[i], &p.e2}}, 0, i);
      far.add(p.scratch);
    }
    BOOST_TEST(variance_in_plane(far, p.final_model, p.e1, p.e2) == 1.0, boost::test_tools::tolerance(1e-6));
    // e2's part is not there: a's sum of squares of 38 of the 42 (a's 38, b's 4)
    BOOST_TEST(variance_in_plane(far, p.final_model, p.e1, e0) == 38.0 / 42, boost::test_tools::tolerance(1e-6));
  }
}

BOOST_AUTO_TEST_CASE(projection_on_oblique_directions) {
  planar_path p;
  // x = e1, y = e1 + e2: a e1 + b e2 = (a - b) x + b y (lstsq); cos gives <d, x>/|x| = a and
  // <d, y>/|y| = (a + b)/sqrt(2).
  direction<path_model> y = p.e1;
  for (index_t i = 0; i < path_model::n_params; ++i) y.params[std::size_t(i)] += p.e2.params[std::size_t(i)];
  const auto ls = project(p.path, p.final_model, p.e1, y, projection_method::lstsq);
  const auto cs = project(p.path, p.final_model, p.e1, y, projection_method::cos);
  for (std::size_t i = 0; i < p.a.size(); ++i) {
    BOOST_TEST(ls[i][0] == p.a[i] - p.b[i], boost::test_tools::tolerance(1e-9));
    BOOST_TEST(ls[i][1] == p.b[i], boost::test_tools::tolerance(1e-9));
    BOOST_TEST(cs[i][0] == p.a[i], boost::test_tools::tolerance(1e-9));
    BOOST_TEST(cs[i][1] == (p.a[i] + p.b[i]) / std::sqrt(2.0), boost::test_tools::tolerance(1e-9));
  }
  // Directions with a state part project as without it unless the options include the state.
  direction<path_model> xs = p.e1, ys = y;
  for (index_t i = 0; i < path_model::n_state; ++i) xs.state[std::size_t(i)] = 5.0, ys.state[std::size_t(i)] = -3.0;
  const auto ls2 = project(p.path, p.final_model, xs, ys, projection_method::lstsq);
  const auto cs2 = project(p.path, p.final_model, xs, ys, projection_method::cos);
  for (std::size_t i = 0; i < p.a.size(); ++i) {
    BOOST_TEST(ls2[i][0] == ls[i][0], boost::test_tools::tolerance(1e-9));
    BOOST_TEST(cs2[i][1] == cs[i][1], boost::test_tools::tolerance(1e-9));
  }
  BOOST_CHECK_THROW(project(p.path, p.final_model, p.e1, p.e1, projection_method::lstsq), basin::error);
  direction<path_model> zero;
  BOOST_CHECK_THROW(project(p.path, p.final_model, zero, y), basin::error);
}

BOOST_AUTO_TEST_CASE(principal_directions_equal_a_full_svd) {
  // A random path of 7 snapshots moving every parameter, running statistics included.
  path_model final_model(3), m(4);
  trajectory<path_model> path;
  for (int i = 0; i < 7; ++i) {
    const counter_rng rng{100 + std::uint64_t(i), 1};
    for (index_t k = 0; k < path_model::n_params; ++k)
      m.params[std::size_t(k)] = final_model.params[std::size_t(k)] + (1 + k % 3) * rng.normal(std::uint64_t(k));
    for (index_t k = 0; k < path_model::n_state; ++k)
      m.state[std::size_t(k)] = final_model.state[std::size_t(k)] + rng.normal(std::uint64_t(1000 + k));
    path.add(m, "step " + std::to_string(i));
  }
  BOOST_TEST(path.label(3) == "step 3");
  for (const pca_options o : {pca_options{true, false}, pca_options{false, false}, pca_options{false, true}}) {
    auto pca = principal_directions(path, final_model, o);
    // The (7, P) matrix of differences, masked as o says, centered, decomposed by Jacobi SVD.
    const index_t P = path_model::n_params + (o.states ? path_model::n_state : 0);
    Eigen::MatrixXd M(7, P);
    for (index_t i = 0; i < 7; ++i) {
      for (const auto& t : path_model::param_table)
        for (index_t k = t.offset; k < t.offset + t.size(); ++k)
          M(i, k) = o.ignore_bias_bn && t.rank <= 1
                        ? 0.0
                        : path[i].params[std::size_t(k)] - final_model.params[std::size_t(k)];
      if (o.states)
        for (index_t k = 0; k < path_model::n_state; ++k)
          M(i, path_model::n_params + k) = path[i].state[std::size_t(k)] - final_model.state[std::size_t(k)];
    }
    const Eigen::MatrixXd C = M.rowwise() - M.colwise().mean();
    const Eigen::JacobiSVD<Eigen::MatrixXd> svd(C, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const double total = svd.singularValues().squaredNorm();
    for (int k = 0; k < 2; ++k) {
      const double s = svd.singularValues()(k);
      BOOST_TEST(pca.singular_values[k] == s, boost::test_tools::tolerance(1e-10));
      BOOST_TEST(pca.explained_variance[k] == s * s / 6, boost::test_tools::tolerance(1e-10));
      BOOST_TEST(pca.explained_variance_ratio[k] == s * s / total, boost::test_tools::tolerance(1e-10));
      Eigen::Index at = 0;
      svd.matrixU().col(k).cwiseAbs().maxCoeff(&at);
      const double sign = svd.matrixU()(at, k) > 0 ? 1 : -1;  // svd_flip, u-based
      const auto& d = k == 0 ? pca.x : pca.y;
      double worst = 0;
      for (index_t q = 0; q < P; ++q) {
        const double got =
            q < path_model::n_params ? d.params[std::size_t(q)] : d.state[std::size_t(q - path_model::n_params)];
        worst = worse(worst, std::fabs(got - sign * svd.matrixV()(q, k)));
      }
      BOOST_TEST(worst < 1e-10);
      if (!o.states)
        for (double v : d.state) BOOST_TEST(v == 0.0);
    }
    auto& px = pca.x;
    auto& py = pca.y;
    BOOST_TEST(std::fabs(dot(px, py)) < 1e-12);
    BOOST_TEST(dot(px, px) == 1.0, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(variance_in_plane(path, final_model, px, py, o) ==
                   pca.explained_variance_ratio[0] + pca.explained_variance_ratio[1],
               boost::test_tools::tolerance(1e-10));
    // Any other plane holds less: e.g. pc1 with a random second direction.
    auto r = random_weights_only(9);
    BOOST_TEST(variance_in_plane(path, final_model, px, r, o) <
               pca.explained_variance_ratio[0] + pca.explained_variance_ratio[1]);
  }
}

BOOST_AUTO_TEST_CASE(trajectory_files_and_errors) {
  planar_path p;
  // Snapshots from checkpoints equal the snapshots taken in memory.
  trajectory<path_model> from_files;
  for (index_t i = 0; i < p.path.size(); ++i) {
    path_model m(0);
    m.params = p.path[i].params;
    m.state = p.path[i].state;
    const auto file = trajectory_temp("ckpt_" + std::to_string(i) + ".h5");
    save_checkpoint(m, file, i);
    from_files.add_checkpoint(file);
  }
  BOOST_TEST(from_files.size() == 5);
  BOOST_TEST((from_files[2].params == p.path[2].params));
  BOOST_TEST(from_files.label(1) == trajectory_temp("ckpt_1.h5"));
  // A point past either end (path[-1] as in Python, path[size()]) is refused, not read past the end.
  const auto out_of_range = [](const error& e) {
    return std::string(e.what()).find("it holds 5 (0 to 4)") != std::string::npos;
  };
  BOOST_CHECK_EXCEPTION(from_files[-1], error, out_of_range);
  BOOST_CHECK_EXCEPTION(from_files[5], error, out_of_range);
  BOOST_CHECK_EXCEPTION(from_files.label(5), error, out_of_range);

  auto pca = principal_directions(from_files, p.final_model);
  const auto dir_file = trajectory_temp("pca_directions.h5");
  save_pca_directions(dir_file, pca, pca_options{}, from_files.size());
  {
    auto f = h5::file::open(dir_file);
    BOOST_TEST(f.attr_string("/", "dir_source") == "pca");
    BOOST_TEST(f.attr_string("/", "norm") == "none");
    const auto ratio = f.read<double>("explained_variance_ratio_");
    BOOST_TEST(ratio.size() == 2u);
    BOOST_TEST(ratio[0] == pca.explained_variance_ratio[0]);
    BOOST_TEST(f.read<double>("singular_values_")[1] == pca.singular_values[1]);
  }
  const auto x = load_direction<path_model>(dir_file, "xdirection");
  BOOST_TEST((x.params == pca.x.params));

  const auto xy = project(from_files, p.final_model, pca.x, pca.y);
  const auto proj = projection_file(dir_file, projection_method::cos);
  BOOST_TEST(proj == dir_file + "_proj_cos.h5");
  save_projection(proj, xy, projection_method::cos, {"a", "b", "c", "d", "e"});
  const auto back = load_projection(proj);
  BOOST_TEST(back.size() == 5u);
  BOOST_TEST(back[3][1] == xy[3][1]);

  // Malformed projection files name the file and what is wrong.
  const auto bad = trajectory_temp("bad_proj.h5");
  h5::atomic_write(bad, [](h5::file& f) {
    f.write<double>("proj_xcoord", std::vector<double>{1, 2, 3}, {3});
    f.write<double>("proj_ycoord", std::vector<double>{1, 2}, {2});
  });
  BOOST_CHECK_EXCEPTION(load_projection(bad), basin::error, [&](const basin::error& e) {
    return std::string(e.what()).find(bad) != std::string::npos &&
           std::string(e.what()).find("3 values") != std::string::npos;
  });
  BOOST_CHECK_THROW(load_projection(dir_file), basin::error);  // no proj_* datasets
  // Shapes are checked before anything is read: a matrix, no points, and 10^8 points declared
  // (never written: the file is a few KB) are refused rather than allocated.
  const auto says = [](const std::string& path, const char* what) {
    return [=](const basin::error& e) {
      const std::string w = e.what();
      return w.find(path) != std::string::npos && w.find(what) != std::string::npos;
    };
  };
  h5::atomic_write(bad, [](h5::file& f) {
    f.write<double>("proj_xcoord", std::vector<double>{1, 2, 3}, {3, 1});
    f.write<double>("proj_ycoord", std::vector<double>{1, 2, 3}, {3});
  });
  BOOST_CHECK_EXCEPTION(load_projection(bad), basin::error, says(bad, "'proj_xcoord' has shape (3, 1)"));
  h5::atomic_write(bad, [](h5::file& f) {
    f.write<double>("proj_xcoord", std::vector<double>{}, {0});
    f.write<double>("proj_ycoord", std::vector<double>{}, {0});
  });
  BOOST_CHECK_EXCEPTION(load_projection(bad), basin::error, says(bad, "expected one axis of 1 to 1000000 points"));
  {
    std::filesystem::remove(bad);
    const hid_t f = H5Fcreate(bad.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t n[1] = {100000000};
    const hid_t space = H5Screate_simple(1, n, nullptr);
    for (const char* name : {"proj_xcoord", "proj_ycoord"})
      H5Dclose(H5Dcreate2(f, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Sclose(space), H5Fclose(f);
  }
  BOOST_TEST(std::filesystem::file_size(bad) < 100000u);
  BOOST_CHECK_EXCEPTION(load_projection(bad), basin::error, says(bad, "has shape (100000000,)"));
  BOOST_CHECK_THROW(save_projection(bad, {{1.0, NAN}}, projection_method::cos), basin::error);
  BOOST_CHECK_THROW(parse_projection_method("angle"), basin::error);

  // Too few snapshots, or snapshots spanning a line only.
  trajectory<path_model> two;
  two.add(p.scratch);
  two.add(p.final_model);
  BOOST_CHECK_THROW(principal_directions(two, p.final_model), basin::error);
  trajectory<path_model> line;
  for (double a : {3.0, 1.0, -2.0, 0.0}) {
    place(p.scratch, p.final_model, {{a, &p.e1}}, 0.0, 1);
    line.add(p.scratch);
  }
  BOOST_CHECK_EXCEPTION(principal_directions(line, p.final_model), basin::error, [](const basin::error& e) {
    return std::string(e.what()).find("fewer than 2 dimensions") != std::string::npos;
  });
  // A checkpoint of another architecture, or no file at all.
  trajectory<path_model> t;
  using other = model<resnet<8, fashion_input>, double>;
  const auto foreign = trajectory_temp("foreign.h5");
  save_checkpoint(other(1), foreign);
  BOOST_CHECK_THROW(t.add_checkpoint(foreign), basin::error);
  BOOST_CHECK_THROW(t.add_checkpoint(trajectory_temp("missing.h5")), basin::error);
  BOOST_TEST(t.size() == 0);

  // The grid around a path covers it and the origin.
  const auto r = covering_range({0.5, 2.0, 1.0}, 11, 0.25);
  BOOST_TEST(r.front() == -0.5);
  BOOST_TEST(r.back() == 2.5);
  BOOST_CHECK_THROW(covering_range({1.0, NAN}, 11), basin::error);
}

// path_steps on a quadratic over an uneven grid: the node slopes come from parabolas and the
// gradient between nodes is bilinear, so slopes and angles equal the closed form wherever the
// path is, edges and corners included; off the grid, zero steps and missing values give NaN.
BOOST_AUTO_TEST_CASE(path_steps_on_a_quadratic_match_the_closed_form) {
  const std::vector<double> x{-2, -1.3, -0.5, 0.2, 1, 1.7, 2.5}, y{-1.5, -0.7, 0, 0.9, 1.6};
  const auto f = [](double a, double b) { return 1.5 * a * a + 0.4 * b * b + 0.3 * a * b + 0.2 * a - 0.1 * b + 3; };
  const auto grad = [](double a, double b) {
    return std::array<double, 2>{3 * a + 0.3 * b + 0.2, 0.8 * b + 0.3 * a - 0.1};
  };
  std::vector<double> loss;
  for (double a : x)
    for (double b : y) loss.push_back(f(a, b));
  const auto deg = [](double ax, double ay, double bx, double by) {
    return std::atan2(std::fabs(ax * by - ay * bx), ax * bx + ay * by) * 180 / M_PI;
  };
  // Straight downhill, then along the contour, then straight uphill; then across the grid to its
  // corner, from the corner off the grid, back onto it, a step of length zero, onto the grid's
  // first x coordinate, half off the grid and back.
  std::vector<std::array<double, 2>> path{{1.2, 0.7}};
  auto g = grad(1.2, 0.7);
  path.push_back({1.2 - 0.05 * g[0], 0.7 - 0.05 * g[1]});
  g = grad(path[1][0], path[1][1]);
  path.push_back({path[1][0] - 0.05 * g[1], path[1][1] + 0.05 * g[0]});
  g = grad(path[2][0], path[2][1]);
  path.push_back({path[2][0] + 0.02 * g[0], path[2][1] + 0.02 * g[1]});
  path.push_back({-1.9, -1.1});
  path.push_back({2.5, 1.6});
  path.push_back({3.0, 2.0});
  path.push_back({0.1, -0.3});
  path.push_back({0.1, -0.3});
  path.push_back({-0.4, 0.5});
  path.push_back({-2, 0.3});   // on the first x coordinate
  path.push_back({0.5, 1.8});  // x on the grid, y beyond it
  path.push_back({1.0, 0.0});
  const auto st = path_steps(path, x, y, loss);
  BOOST_REQUIRE_EQUAL(st.size(), path.size() - 1);
  BOOST_CHECK_SMALL(st[0].descent_angle, 1e-9);
  BOOST_CHECK_SMALL(st[1].descent_angle - 90, 1e-9);
  BOOST_CHECK_SMALL(st[2].descent_angle - 180, 1e-9);
  for (std::size_t k = 0; k < st.size(); ++k) {
    const double sx = path[k + 1][0] - path[k][0], sy = path[k + 1][1] - path[k][1];
    BOOST_TEST_CONTEXT("step " << k) {
      BOOST_CHECK_CLOSE(st[k].length, std::hypot(sx, sy), 1e-12);
      if (k == 6 || k == 11) {  // starts off the grid
        BOOST_CHECK(std::isnan(st[k].slope) && std::isnan(st[k].descent_angle));
      } else {
        const auto gk = grad(path[k][0], path[k][1]);
        BOOST_CHECK_CLOSE(st[k].slope, std::hypot(gk[0], gk[1]), 1e-9);
        if (k == 7)
          BOOST_CHECK(std::isnan(st[k].descent_angle));  // a zero step has no direction
        else
          BOOST_CHECK_SMALL(st[k].descent_angle - deg(sx, sy, -gk[0], -gk[1]), 1e-9);
      }
      if (k == 0 || k == 7 || k == 8) {
        BOOST_CHECK(std::isnan(st[k].turn));
      } else {
        BOOST_CHECK_SMALL(st[k].turn - deg(path[k][0] - path[k - 1][0], path[k][1] - path[k - 1][1], sx, sy), 1e-9);
      }
    }
  }
  // A value the gradient needs is missing: NaN where it is needed, the same elsewhere.
  auto holed = loss;
  holed[5 * y.size() + 3] = std::nan("");  // (x = 1.7, y = 0.9), a node around path[0]
  const auto sh = path_steps(path, x, y, holed);
  BOOST_CHECK(std::isnan(sh[0].slope) && std::isnan(sh[0].descent_angle));
  BOOST_CHECK_EQUAL(sh[4].slope, st[4].slope);  // starts at (-1.9, -1.1), far from the hole
  holed[5 * y.size() + 3] = std::numeric_limits<double>::infinity();  // not finite: the same as missing
  const auto si = path_steps(path, x, y, holed);
  BOOST_CHECK(std::isnan(si[0].slope) && std::isnan(si[0].descent_angle));
  BOOST_CHECK_EQUAL(si[4].slope, st[4].slope);
  // Two coordinates on an axis: straight lines, exact for a plane.
  const std::vector<double> x2{0, 2}, y2{-1, 0, 3};
  std::vector<double> plane;
  for (double a : x2)
    for (double b : y2) plane.push_back(2 * a - 3 * b);
  const auto s2 = path_steps({{0.5, 0.5}, {0.5 - 2, 0.5 + 3}}, x2, y2, plane);
  BOOST_CHECK_CLOSE(s2[0].slope, std::hypot(2.0, 3.0), 1e-12);
  BOOST_CHECK_SMALL(s2[0].descent_angle, 1e-9);
  // Errors name the argument.
  const auto fails_with = [&](auto&& call, const std::string& what) {
    try {
      call();
      BOOST_ERROR("no error; expected one mentioning '" << what << "'");
    } catch (const basin::error& e) {
      BOOST_CHECK_MESSAGE(std::string(e.what()).find(what) != std::string::npos, e.what());
    }
  };
  fails_with([&] { path_steps(path, x, y, std::vector<double>(loss.begin(), loss.end() - 1)); }, "loss holds 34");
  fails_with([&] { path_steps(path, {0, 1, 1}, y, loss); }, "x[2] = 1");
  fails_with([&] { path_steps(path, x, {0}, loss); }, "y needs at least 2");
  fails_with([&] { path_steps({{0, std::nan("")}}, x, y, loss); }, "path[0]");
}
