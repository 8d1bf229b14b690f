// Plot and export: every picture writes its .dat, .gp, .png and .svg for an analytic surface,
// the .dat / .csv / .vtk read back to the inputs, NaN points do not break anything, and bad
// input, a missing gnuplot and a failing script raise basin::error naming the culprit.
// Rendering tests are skipped when gnuplot is not installed. Set BASIN_KEEP_PLOTS=1 to keep the
// pictures (the folder is printed).
#define BOOST_TEST_MODULE plot
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/io/export.hpp"
#include "basin/plot/curves.hpp"
#include "basin/plot/gnuplot.hpp"
#include "basin/plot/images.hpp"
#include "basin/plot/surface.hpp"

namespace fs = std::filesystem;
using basin::plot::curve;
using basin::plot::grid2d;
using basin::plot::style;

namespace {

// A plain function, not a functor struct: the struct form trips -Werror=uninitialized in Boost 1.74.
boost::test_tools::assertion_result gnuplot_present(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(basin::plot::gnuplot_available());
  r.message() << "gnuplot ('" << basin::plot::gnuplot_program() << "') is not installed";
  return r;
}

const fs::path& out_dir() {
  static const fs::path dir = fs::temp_directory_path() / ("basin_test_plot-" + std::to_string(::getpid()));
  return dir;
}

struct cleanup {
  cleanup() { fs::remove_all(out_dir()); }
  ~cleanup() {
    const char* keep = std::getenv("BASIN_KEEP_PLOTS");
    if (keep != nullptr && *keep != '\0' && std::string(keep) != "0") std::cout << "plots kept in " << out_dir() << "\n";
    else fs::remove_all(out_dir());
  }
};
BOOST_TEST_GLOBAL_FIXTURE(cleanup);

std::string stem(const std::string& name) { return (out_dir() / name).string(); }

// z = x^2 + 2 y^2 + 0.1 on [-1, 1] x [-1, 1], 21 x 17 points.
grid2d bowl(int nx = 21, int ny = 17) {
  grid2d g;
  g.name = "train_loss";
  for (int i = 0; i < nx; ++i) g.x.push_back(-1 + 2.0 * i / (nx - 1));
  for (int j = 0; j < ny; ++j) g.y.push_back(-1 + 2.0 * j / (ny - 1));
  for (double x : g.x)
    for (double y : g.y) g.z.push_back(x * x + 2 * y * y + 0.1);
  return g;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

bool is_png(const fs::path& p) {
  const std::string s = slurp(p);
  return s.size() > 2000 && s.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

bool is_svg(const fs::path& p) {
  const std::string s = slurp(p);
  return s.size() > 2000 && s.find("<svg") != std::string::npos && s.find("</svg>") != std::string::npos;
}

// How often `what` occurs in a file: tells a drawn SVG from an empty frame (gnuplot's svg
// terminal writes one <polygon> per pm3d cell, <text>label</text> per label).
std::size_t count(const fs::path& p, const std::string& what) {
  const std::string s = slurp(p);
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// The numbers of every line that is neither blank nor a comment; blank lines counted too.
struct table {
  std::vector<std::vector<double>> rows;
  int blank_lines = 0;
};
table read_table(const fs::path& p, char sep = ' ') {
  table t;
  std::istringstream in(slurp(p));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      ++t.blank_lines;
      continue;
    }
    if (line[0] == '#') continue;
    std::vector<double> row;
    std::istringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, sep)) row.push_back(std::strtod(cell.c_str(), nullptr));
    t.rows.push_back(row);
  }
  return t;
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// The .dat of a surface holds x, y, z exactly, in grid order, one blank line between x blocks.
void check_grid_dat(const fs::path& p, const grid2d& g) {
  const table t = read_table(p);
  BOOST_TEST(t.blank_lines == g.nx() - 1);
  BOOST_TEST_REQUIRE(t.rows.size() == g.z.size());
  for (std::size_t i = 0; i < g.x.size(); ++i)
    for (std::size_t j = 0; j < g.y.size(); ++j) {
      const auto& r = t.rows[i * g.y.size() + j];
      BOOST_TEST_REQUIRE(r.size() == 3u);
      BOOST_TEST(r[0] == g.x[i]);
      BOOST_TEST(r[1] == g.y[j]);
      BOOST_TEST(same(r[2], g.z[i * g.y.size() + j]), "z at (" << i << ", " << j << "): " << r[2]);
    }
}

void check_picture(const std::string& s, bool svg = true) {
  BOOST_TEST(is_png(s + ".png"), s << ".png is not a PNG");
  if (svg) BOOST_TEST(is_svg(s + ".svg"), s << ".svg is not an SVG");
  else BOOST_TEST(!fs::exists(s + ".svg"));
  BOOST_TEST(fs::exists(s + ".dat"));
  const std::string gp = slurp(s + ".gp");
  BOOST_TEST(gp.find("set datafile missing \"NaN\"") != std::string::npos);
  BOOST_TEST(gp.find(basin::plot::detail::gp_file(fs::path(s).filename().string() + ".dat")) != std::string::npos);
  BOOST_TEST(gp.find("set title") != std::string::npos);
}

// Runs f and checks it throws basin::error whose message holds every one of the parts.
template <class F>
void check_throws(F&& f, std::initializer_list<const char*> parts) {
  try {
    f();
    BOOST_ERROR("no basin::error thrown (expected one mentioning '" << *parts.begin() << "')");
  } catch (const basin::error& e) {
    const std::string m = e.what();
    for (const char* p : parts) BOOST_TEST(m.find(p) != std::string::npos, "'" << p << "' not in: " << m);
  }
}

// Sets an environment variable for one scope.
struct env_guard {
  std::string name;
  env_guard(const char* n, const char* v) : name(n) { ::setenv(n, v, 1); }
  ~env_guard() { ::unsetenv(name.c_str()); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(pictures, *boost::unit_test::precondition(gnuplot_present))

BOOST_AUTO_TEST_CASE(contour_default_levels_and_highlight) {
  const grid2d g = bowl();
  style st;
  st.title = "bowl: x^2 + 2 y^2 + 0.1";
  st.xlabel = "alpha";
  st.ylabel = "beta";
  st.highlight = std::log(10.0);
  basin::plot::contour(g, stem("contour"), st);
  check_picture(stem("contour"));
  check_grid_dat(stem("contour") + ".dat", g);
  const std::string gp = slurp(stem("contour") + ".gp");
  // Default levels strictly inside the data range [0.1, 3.1]: 0.6, ..., 2.6 (the reference's arange).
  BOOST_TEST(gp.find("levels discrete 0.6,1.1,1.6,2.1,2.6\n") != std::string::npos);
  BOOST_TEST(gp.find("initial loss (2.303)") != std::string::npos);
  // The picture holds level labels and the legend entry.
  BOOST_TEST(count(stem("contour") + ".svg", "<text>1.6</text>") >= 1u);
  BOOST_TEST(count(stem("contour") + ".svg", "<text>initial loss (2.303)</text>") == 1u);
  // A map close to a minimizer, its loss in [0.0996, 0.1176]: one reference level inside, so round
  // levels of its own range, 0.002 apart, each as its short decimal text.
  grid2d near = g;
  for (double& z : near.z) z = 0.099 + 0.006 * z;
  basin::plot::contour(near, stem("contour_near"), style{});
  check_picture(stem("contour_near"));
  BOOST_TEST(slurp(stem("contour_near") + ".gp")
                 .find("levels discrete 0.1,0.102,0.104,0.106,0.108,0.11,0.112,0.114,"
                       "0.116\n") != std::string::npos);
  // A map that spans 8e-8 of its values (an untrained net's ln 10 everywhere but for rounding):
  // round levels with the digits it takes (six digits left none and the picture crashed), and
  // one whose values are neighbouring doubles: drawn as flat (the level loop never ended).
  grid2d flat = bowl(5, 5);
  for (std::size_t k = 0; k < flat.z.size(); ++k) flat.z[k] = 2.302585 * (1 + 1e-8 * double(k / 5 + k % 5));
  const auto levels = basin::plot::detail::default_levels(flat, false);
  BOOST_TEST(levels.size() >= 3u);
  for (std::size_t k = 0; k < levels.size(); ++k) {
    BOOST_TEST(levels[k] > 2.302585);
    BOOST_TEST(levels[k] < 2.302585 * (1 + 8e-8));
    if (k > 0) BOOST_TEST(levels[k] > levels[k - 1]);
  }
  basin::plot::contour(flat, stem("contour_flat"), style{});
  check_picture(stem("contour_flat"));
  for (std::size_t k = 0; k < flat.z.size(); ++k)
    flat.z[k] = k % 2 ? std::nextafter(std::log(10.0), 9.0) : std::log(10.0);
  BOOST_TEST(basin::plot::detail::default_levels(flat, false) == std::vector<double>{std::log(10.0)});
  basin::plot::contour(flat, stem("contour_flat"), style{});
  check_picture(stem("contour_flat"));
}

BOOST_AUTO_TEST_CASE(contour_with_a_path) {
  const grid2d g = bowl();
  style st;
  st.path = {{-0.8, 0.9}, {-0.5, 0.4}, {-0.1, 0.1}, {0.0, 0.0}};
  st.path_label = "SGD path";
  basin::plot::contour(g, stem("contour_path"), st);
  check_picture(stem("contour_path"));
  const std::string gp = slurp(stem("contour_path") + ".gp");
  BOOST_TEST(gp.find("$P << EOD\n-0.8 0.9\n-0.5 0.4\n-0.1 0.1\n0 0\nEOD\n") != std::string::npos);
  BOOST_TEST(gp.find("every ::3::3") != std::string::npos);  // the end: the last point
  BOOST_TEST(count(stem("contour_path") + ".svg", "<text>SGD path</text>") == 1u);
  BOOST_TEST(count(stem("contour_path") + ".svg", "<text>start</text>") == 1u);
  st.path[2][1] = NAN;
  check_throws([&] { contour(g, stem("e"), st); }, {"plot::contour", "style.path[2]", "not finite"});
}

BOOST_AUTO_TEST_CASE(scatter_of_points_and_marks) {
  style st;
  st.title = "samples";
  const std::vector<basin::plot::curve> sets{{{0.0, 1.0, 2.0}, {0.5, -1.0, 0.25}, "real"}, {{1.5}, {1.5}, "fake"}};
  basin::plot::scatter(sets, stem("scatter"), st, {{0.0, 0.0}, {2.0, 2.0}});
  check_picture(stem("scatter"));
  const std::string dat = slurp(stem("scatter") + ".dat");
  BOOST_TEST(dat.find("# index 0: 'real'\n0 0.5\n1 -1\n2 0.25\n\n\n# index 1: 'fake'\n1.5 1.5\n") != std::string::npos);
  BOOST_TEST(dat.find("# index 2: marks\n0 0\n2 2\n") != std::string::npos);
  BOOST_TEST(count(stem("scatter") + ".svg", "<text>fake</text>") == 1u);
  check_throws([&] { scatter({}, stem("e"), st); }, {"plot::scatter", "sets is empty"});
  check_throws([&] { scatter({{{1.0}, {NAN}, "x"}}, stem("e"), st); }, {"sets[0]", "y[0]"});
  check_throws([&] { scatter(sets, stem("e"), st, {{0.0, INFINITY}}); }, {"marks[0]"});
}

BOOST_AUTO_TEST_CASE(scatter_panels_share_ranges) {
  style st;
  st.title = "samples over training";
  st.width = 1200;
  st.height = 500;
  using panel = basin::plot::scatter_panel;
  const std::vector<panel> panels{{{{{0.0, 1.0}, {0.0, -1.0}, "real"}, {{3.0}, {0.5}, "fake"}}, "step 10"},
                                  {{{{0.0}, {2.0}, "real"}, {{-1.0}, {0.0}, "fake"}}, "step 20"},
                                  {{{{0.5}, {0.5}, "real"}}, "step 30"}};
  basin::plot::scatter_panels(panels, 2, stem("panels"), st, {{0.0, 0.0}});
  check_picture(stem("panels"));
  const std::string dat = slurp(stem("panels") + ".dat");
  BOOST_TEST(dat.find("# index 0: panel 0 'step 10', set 'real'\n0 0\n1 -1\n\n\n# index 1: panel 0 'step 10', set "
                      "'fake'\n3 0.5\n") != std::string::npos);
  BOOST_TEST(dat.find("# index 4: panel 2 'step 30', set 'real'\n0.5 0.5\n\n\n# index 5: marks\n0 0\n") !=
             std::string::npos);
  const std::string gp = slurp(stem("panels") + ".gp");
  // x from -1 to 3, y from -1 to 2, each padded by 5% of its extent; 3 panels in 2 columns.
  double r[4] = {};
  const auto at = gp.find("set xrange [");
  BOOST_TEST_REQUIRE(at != std::string::npos);
  BOOST_TEST_REQUIRE(
      std::sscanf(gp.c_str() + at, "set xrange [%lf:%lf]\nset yrange [%lf:%lf]", r, r + 1, r + 2, r + 3) == 4);
  BOOST_TEST(r[0] == -1.2, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r[1] == 3.2, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r[2] == -1.15, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(r[3] == 2.15, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(gp.find("set multiplot layout 2,2") != std::string::npos);
  BOOST_TEST(gp.find("index 5 using 1:2") != std::string::npos);
  BOOST_TEST(count(stem("panels") + ".svg", "<text>step 30</text>") == 1u);
  using basin::plot::scatter_panels;
  check_throws([&] { scatter_panels({}, 2, stem("e"), st); }, {"plot::scatter_panels", "panels is empty"});
  check_throws([&] { scatter_panels(panels, 0, stem("e"), st); }, {"columns", "[1, 16]", "got 0"});
  check_throws([&] { scatter_panels({{{}, "t"}}, 1, stem("e"), st); }, {"panels[0].sets is empty"});
  check_throws(
      [&] {
        scatter_panels({panels[0], {{{{1.0}, {NAN}, "x"}}, "t"}}, 1, stem("e"), st);
      },
      {"panels[1].sets[0]", "y[0]"});
  check_throws([&] { scatter_panels(panels, 1, stem("e"), st, {{NAN, 0.0}}); }, {"marks[0]"});
}

BOOST_AUTO_TEST_CASE(contour_panels_share_levels) {
  // Two maps side by side, the second three times the first (values 0.3 to 9.3): the default
  // levels come from both together, the reference tool's 0.6 to 9.1 inside [0.1, 9.3], the same
  // list for each panel; the second panel's highlight is drawn in it alone.
  const grid2d a = bowl();
  grid2d b = bowl(11, 9);
  for (double& z : b.z) z *= 3;
  style st;
  st.title = "two bowls";
  st.width = 1100;
  st.height = 500;
  st.highlight_label = "loss at initialization";
  using basin::plot::contour_panel;
  basin::plot::contour_panels({{a, "bowl", NAN}, {b, "three bowls", 2.5}}, 2, stem("contour_panels"), st);
  check_picture(stem("contour_panels"));
  const std::string gp = slurp(stem("contour_panels") + ".gp");
  const std::string levels =
      "levels discrete 0.6,1.1,1.6,2.1,2.6,3.1,3.6,4.1,4.6,5.1,5.6,6.1,6.6,7.1,7.6,8.1,8.6,9.1\n";
  std::size_t times = 0;
  for (auto at = gp.find(levels); at != std::string::npos; at = gp.find(levels, at + 1)) ++times;
  BOOST_TEST(times == 2u);
  BOOST_TEST(gp.find("set table $H1") != std::string::npos);
  BOOST_TEST(gp.find("$H0") == std::string::npos);
  BOOST_TEST(gp.find("set multiplot layout 1,2") != std::string::npos);
  BOOST_TEST(count(stem("contour_panels") + ".svg", "<text>three bowls</text>") == 1u);
  BOOST_TEST(count(stem("contour_panels") + ".svg", "<text>loss at initialization (2.5)</text>") == 1u);
  // The .dat: each grid as plot::contour writes it, the second after two blank lines.
  const std::string dat = slurp(stem("contour_panels") + ".dat");
  const auto second = dat.find("\n\n\n# index 1: panel 'three bowls'\n");
  BOOST_TEST_REQUIRE(second != std::string::npos);
  BOOST_TEST(dat.substr(second + 3).find(basin::plot::detail::grid_dat(b)) != std::string::npos);
  BOOST_TEST(dat.find(basin::plot::detail::grid_dat(a)) != std::string::npos);
  using basin::plot::contour_panels;
  check_throws([&] { contour_panels({}, 2, stem("e"), st); }, {"plot::contour_panels", "panels is empty"});
  check_throws([&] { contour_panels({{a, "a", NAN}}, 0, stem("e"), st); }, {"columns", "[1, 16]", "got 0"});
  grid2d thin = a;
  thin.x.resize(1);
  thin.z.resize(a.y.size());
  check_throws(
      [&] {
        contour_panels({{a, "a", NAN}, {thin, "thin", NAN}}, 2, stem("e"), st);
      },
      {"plot::contour_panels: panels[1]", "at least 2 x"});
  style lg = st;
  lg.log_z = true;
  check_throws([&] { contour_panels({{a, "a", -1.0}}, 1, stem("e"), lg); }, {"panels[0].highlight = -1"});
  BOOST_TEST(!fs::exists(stem("e") + ".png"));
}

BOOST_AUTO_TEST_CASE(contour_log_and_own_levels_png_only) {
  const grid2d g = bowl();
  style st;
  st.log_z = true;
  st.svg = false;
  basin::plot::contour(g, stem("contour_log"), st, {2.0, 0.2, 0.5, 1.0});
  check_picture(stem("contour_log"), false);
  const std::string gp = slurp(stem("contour_log") + ".gp");
  BOOST_TEST(gp.find("levels discrete 0.2,0.5,1,2\n") != std::string::npos);  // sorted
  BOOST_TEST(gp.find("set logscale cb") != std::string::npos);
  BOOST_TEST(gp.find("set title 'train_loss'") != std::string::npos);  // the grid's name by default
}

BOOST_AUTO_TEST_CASE(heatmap_and_surface) {
  const grid2d g = bowl();
  style st;
  st.title = "train loss";
  basin::plot::heatmap(g, stem("heatmap"), st);
  check_picture(stem("heatmap"));
  check_grid_dat(stem("heatmap") + ".dat", g);
  BOOST_TEST(count(stem("heatmap") + ".svg", "<polygon") >= 20u * 16u);  // every cell filled
  // An even grid: one cell per point, centred on it, the axes half a cell beyond the outer points
  // (x step 0.1, y step 0.125), inner sides a pixel into the neighbours (no seams: 2.1 units over
  // 0.69 of 900 pixels, 2.125 over 0.79 of 700), the outer ones on the edge; an uneven one: pm3d
  // cells between the points.
  const std::string even = slurp(stem("heatmap") + ".gp");
  const auto offset = [&](const std::string& before) {  // the number after `before`
    const auto at = even.find(before);
    BOOST_TEST_REQUIRE(at != std::string::npos, before << " not in " << even);
    return std::stod(even.substr(at + before.size()));
  };
  BOOST_TEST(offset("using 1:2:($1 - 0.05 - ($1 > -0.95 ? ") == 2.1 / 621, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(offset("($1 + 0.05 + ($1 < 0.95 ? ") == 2.1 / 621, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(offset("($2 - 0.0625 - ($2 > -0.9375 ? ") == 2.125 / 553, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(offset("($2 + 0.0625 + ($2 < 0.9375 ? ") == 2.125 / 553, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(even.find(" : 0)):3 with boxxyerror lc palette") != std::string::npos);
  // Cells narrower than a pixel reach half a cell at most: the second box stops at the first's
  // outer side, inside the range.
  basin::plot::heatmap(bowl(1001, 3), stem("heatmap_dense"), st);
  check_picture(stem("heatmap_dense"));
  const std::string dense = slurp(stem("heatmap_dense") + ".gp");
  const auto reach_at = dense.find(" ? ", dense.find("using 1:2:($1 - "));
  BOOST_TEST_REQUIRE(reach_at != std::string::npos);
  BOOST_TEST(std::stod(dense.substr(reach_at + 3)) == 0.001, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(even.find("set xrange [-1.05000005:1.05000005]") != std::string::npos);
  BOOST_TEST(even.find("set yrange [-1.0625000625:1.0625000625]") != std::string::npos);
  grid2d uneven = bowl(5, 4);
  uneven.x = {-1, -0.2, 0, 0.1, 1};
  basin::plot::heatmap(uneven, stem("heatmap_uneven"), st);
  check_picture(stem("heatmap_uneven"));
  const std::string pm3d = slurp(stem("heatmap_uneven") + ".gp");
  BOOST_TEST((pm3d.find("with pm3d") != std::string::npos && pm3d.find("boxxyerror") == std::string::npos));
  BOOST_TEST(pm3d.find("set xrange [-1:1]") != std::string::npos);
  basin::plot::surface3d(g, stem("surface"), st);
  check_picture(stem("surface"));
  check_grid_dat(stem("surface") + ".dat", g);
  BOOST_TEST(count(stem("surface") + ".svg", "<polygon") >= 20u * 16u);
  BOOST_TEST(slurp(stem("surface") + ".gp").find("set cblabel 'loss'") != std::string::npos);
}

// style.vmin / vmax: a heat map's colours stop at them (the cells beyond take the end colours, as
// the reference tool's seaborn map); a 3-D surface is cut flat on them. The .dat keeps the values.
BOOST_AUTO_TEST_CASE(value_range_of_heatmap_and_surface) {
  const grid2d g = bowl();                                                                        // 0.1 .. 3.1
  const std::string top = "fill = 'rgb(253, 231,  37)'", bottom = "fill = 'rgb( 68,   1,  84)'";  // viridis' ends
  std::size_t above = 0, below = 0, flat_facets = 0;
  for (double z : g.z) above += z >= 2, below += z <= 0.5;
  for (int i = 0; i + 1 < g.nx(); ++i)
    for (int j = 0; j + 1 < g.ny(); ++j)
      flat_facets += g.at(i, j) >= 2 && g.at(i + 1, j) >= 2 && g.at(i, j + 1) >= 2 && g.at(i + 1, j + 1) >= 2;
  BOOST_TEST_REQUIRE((above > 50u && below > 50u && flat_facets > 10u));  // 66, 75, 16
  style st;
  basin::plot::heatmap(g, stem("range_none"), st);
  BOOST_TEST(count(stem("range_none") + ".svg", top) < above);  // (the test tells the two apart)
  st.vmin = 0.5;
  st.vmax = 2;
  basin::plot::heatmap(g, stem("range_heatmap"), st);
  check_picture(stem("range_heatmap"));
  check_grid_dat(stem("range_heatmap") + ".dat", g);
  const std::string heat = slurp(stem("range_heatmap") + ".gp");
  BOOST_TEST(heat.find("set cbrange [0.5:2]\n") != std::string::npos);
  // round tics, the ends labelled instead of the tics at them (1.8 and 0.6 keep their places)
  BOOST_TEST(heat.find("set cbtics ('≤ 0.5' 0.5, '0.6' 0.6, '0.8' 0.8, '1' 1, '1.2' 1.2, '1.4' 1.4, '1.6' 1.6, "
                       "'1.8' 1.8, '≥ 2' 2)\n") != std::string::npos);
  // without a range: the data's own range [0.1, 3.1], round tics, no end marked
  BOOST_TEST(slurp(stem("range_none") + ".gp")
                 .find("set cbrange [0.1:3.1]\nset cbtics ('0.5' 0.5, '1' 1, '1.5' 1.5, "
                       "'2' 2, '2.5' 2.5, '3' 3)\n") != std::string::npos);
  BOOST_TEST(count(stem("range_heatmap") + ".svg", top) >= above);
  BOOST_TEST(count(stem("range_heatmap") + ".svg", bottom) >= below);
  st.vmin = NAN;  // the lower end from the data
  basin::plot::surface3d(g, stem("range_surface"), st);
  check_picture(stem("range_surface"));
  check_grid_dat(stem("range_surface") + ".dat", g);
  const std::string gp = slurp(stem("range_surface") + ".gp");
  BOOST_TEST(gp.find("set zrange [0.1:2]\nset cbrange [0.1:2]\n") != std::string::npos);
  BOOST_TEST(gp.find("using 1:2:(shown($3)) with pm3d") != std::string::npos);
  const std::string tics =
      "('0.2' 0.2, '0.4' 0.4, '0.6' 0.6, '0.8' 0.8, '1' 1, '1.2' 1.2, '1.4' 1.4, '1.6' 1.6, "
      "'1.8' 1.8, '≥ 2' 2)";
  BOOST_TEST(gp.find("set cbtics " + tics + "\nset ztics " + tics + "\nunset key") != std::string::npos);
  // An end between round tics: the tic beside it (1.8, 0.05 away, a quarter of the spacing) is left
  // out, its label would overlap; half a spacing away (0.6 beside 0.5 above) it stays.
  style odd;
  odd.vmax = 1.85;
  basin::plot::heatmap(g, stem("range_odd"), odd);
  BOOST_TEST(
      slurp(stem("range_odd") + ".gp")
          .find("set cbtics ('0.2' 0.2, '0.4' 0.4, '0.6' 0.6, '0.8' 0.8, '1' 1, '1.2' 1.2, '1.4' 1.4, '1.6' 1.6, "
                "'≥ 1.85' 1.85)\n") != std::string::npos);
  // An uneven grid's pm3d cells average their corners after the cut (a cell with one corner far
  // above vmax takes the mean of the cut values, not the top colour).
  grid2d uneven = g;
  uneven.x[1] = -0.95;
  basin::plot::heatmap(uneven, stem("range_uneven"), odd);
  check_picture(stem("range_uneven"));
  const std::string pm3d = slurp(stem("range_uneven") + ".gp");
  BOOST_TEST(pm3d.find("shown(v) = v > 1.85 ? 1.85 : v < 0.1 ? 0.1 : v") != std::string::npos);
  BOOST_TEST(pm3d.find("using 1:2:(shown($3)) with pm3d") != std::string::npos);
  // A point not computed stays a hole under the cut.
  grid2d holes = g;
  holes.z[5 * 17 + 5] = NAN;
  basin::plot::surface3d(holes, stem("range_nan"), odd);
  check_picture(stem("range_nan"));
  BOOST_TEST(count(stem("range_nan") + ".svg", "<polygon") < count(stem("range_surface") + ".svg", "<polygon"));
  BOOST_TEST(count(stem("range_surface") + ".svg", top) >= flat_facets);  // the plateau, every facet on it
  basin::plot::surface3d(g, stem("range_surface_none"), style{});
  BOOST_TEST(count(stem("range_surface_none") + ".svg", top) < flat_facets);
  // Data all beyond a given end: a range of one value is widened (gnuplot refuses it).
  st.vmin = 5;
  st.vmax = NAN;
  basin::plot::heatmap(g, stem("range_above"), st);
  check_picture(stem("range_above"));
  BOOST_TEST(slurp(stem("range_above") + ".gp").find("set cbrange [5:10]\n") != std::string::npos);
  st.vmin = NAN;
  st.vmax = 0.05;
  st.log_z = true;
  basin::plot::surface3d(g, stem("range_below_log"), st);
  check_picture(stem("range_below_log"));
  const std::string lg = slurp(stem("range_below_log") + ".gp");
  BOOST_TEST(lg.find("set zrange [0.005:0.05]\n") != std::string::npos);
  BOOST_TEST(lg.find("using 1:2:(shown($3 > 0 ? $3 : NaN))") != std::string::npos);
}

// The polygons of a filled contour's .dat (its second data set, after the grid and two blank
// lines): each "x y cb" corner, polygons split at blank lines.
std::vector<std::vector<std::array<double, 3>>> band_polygons_of(const fs::path& dat) {
  const std::string text = slurp(dat);
  const auto from = text.find("\n\n\n");
  BOOST_TEST_REQUIRE(from != std::string::npos);
  std::vector<std::vector<std::array<double, 3>>> out(1);
  std::istringstream in(text.substr(from + 3));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      if (line.empty()) out.emplace_back();
      continue;
    }
    std::array<double, 3> v{};
    std::istringstream(line) >> v[0] >> v[1] >> v[2];
    out.back().push_back(v);
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

double polygon_area(const std::vector<std::array<double, 3>>& p) {
  double a = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const auto &c = p[i], &n = p[(i + 1) % p.size()];
    a += c[0] * n[1] - n[0] * c[1];
  }
  return std::fabs(a) / 2;
}

// Filled contours of a plane z = x + 2y + 3 (linear on every triangle, so the bands are exact):
// every corner lies in its band, each band's polygons cover the area where z is in the band
// (counted on a fine lattice), nothing is drawn below the first level or above the last.
BOOST_AUTO_TEST_CASE(filled_contour_bands) {
  grid2d g;
  g.name = "plane";
  for (int i = 0; i < 9; ++i) g.x.push_back(-1 + 2.0 * i / 8);
  for (int j = 0; j < 7; ++j) g.y.push_back(-1 + 2.0 * j / 6);
  for (double x : g.x)
    for (double y : g.y) g.z.push_back(x + 2 * y + 3);
  const std::vector<double> levels = {1, 2.5, 3, 4.5};
  basin::plot::filled_contour(g, stem("filled"), style{}, levels);
  check_picture(stem("filled"));
  const std::string gp = slurp(stem("filled") + ".gp");
  BOOST_TEST(slurp(stem("filled") + ".dat").starts_with(basin::plot::detail::grid_dat(g) + "\n\n# index 1"));
  // the colour bar: one step of the palette a band, each as high as the others, tics at the levels
  BOOST_TEST(gp.find("set cbrange [0:3]\n") != std::string::npos);
  BOOST_TEST(gp.find("set cbtics ('1' 0, '2.5' 1, '3' 2, '4.5' 3)\n") != std::string::npos);
  const std::string c0 = basin::plot::detail::viridis_at(1 / 6.0), c2 = basin::plot::detail::viridis_at(5 / 6.0);
  BOOST_TEST(gp.find("set palette defined (0 '" + c0 + "', 1 '" + c0 + "', 1 '") != std::string::npos);
  BOOST_TEST(gp.find("3 '" + c2 + "')\n") != std::string::npos);
  const auto polygons = band_polygons_of(stem("filled") + ".dat");
  BOOST_TEST_REQUIRE(!polygons.empty());
  std::vector<double> area(3, 0.0);
  for (const auto& p : polygons) {
    BOOST_TEST_REQUIRE(p.size() >= 3u);
    const double cb = p[0][2];
    const auto k = std::size_t(cb);
    BOOST_TEST_REQUIRE((k < 3u && cb == double(k) + 0.5), "band " << cb << " is no band's middle");
    for (const auto& v : p) {
      const double z = v[0] + 2 * v[1] + 3;
      BOOST_TEST((z >= levels[k] - 1e-6 && z <= levels[k + 1] + 1e-6), "corner z " << z << " outside band " << k);
      BOOST_TEST(v[2] == cb);
    }
    area[k] += polygon_area(p);
  }
  const int n = 1000;  // cell centres of an n x n lattice on [-1, 1]^2
  std::vector<double> expect(3, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const double z = (-1 + (2 * i + 1.0) / n) + 2 * (-1 + (2 * j + 1.0) / n) + 3;
      for (std::size_t k = 0; k < 3; ++k)
        if (z >= levels[k] && z < levels[k + 1]) expect[k] += 4.0 / n / n;
    }
  for (std::size_t k = 0; k < 3; ++k) BOOST_TEST(area[k] == expect[k], boost::test_tools::tolerance(0.01));
  // A point not computed leaves its six triangles white; log_z and one band over a flat map draw.
  g.z[4 * 7 + 3] = NAN;
  basin::plot::filled_contour(g, stem("filled_nan"), style{}, levels);
  double nan_area = 0;
  for (const auto& p : band_polygons_of(stem("filled_nan") + ".dat")) nan_area += polygon_area(p);
  BOOST_TEST(nan_area == area[0] + area[1] + area[2] - 6 * (0.25 * (1 / 3.0) / 2), boost::test_tools::tolerance(1e-6));
  style lg;
  lg.log_z = true;
  basin::plot::filled_contour(bowl(), stem("filled_log"), lg);
  check_picture(stem("filled_log"));
  // the default log levels between the data's ends 0.1 and 3.1, which are not labelled
  BOOST_TEST(slurp(stem("filled_log") + ".gp").find("set cbtics ('0.2' 1, '0.5' 2, '1' 3, '2' 4)\n") !=
             std::string::npos);
  double covered = 0;  // the default levels reach the data's ends: the whole map is painted
  for (const auto& p : band_polygons_of(stem("filled_log") + ".dat")) covered += polygon_area(p);
  BOOST_TEST(covered == 4.0, boost::test_tools::tolerance(1e-6));
  grid2d flat = bowl(5, 4);
  for (double& v : flat.z) v = 2;
  basin::plot::filled_contour(flat, stem("filled_flat"), style{});
  check_picture(stem("filled_flat"));
  BOOST_TEST(band_polygons_of(stem("filled_flat") + ".dat").size() == 2u * 4u * 3u);  // every triangle
  check_throws(
      [&] {
        basin::plot::filled_contour(g, stem("e"), style{}, {1, NAN});
      },
      {"plot::filled_contour", "levels[1]", "not finite"});
  // A plateau on the largest value (an accuracy of 100 around a minimizer) is painted: the last
  // level belongs to the last band.
  grid2d plateau = bowl();
  for (std::size_t k = 0; k < plateau.z.size(); ++k) {
    const double x = plateau.x[k / 17], y = plateau.y[k % 17];
    plateau.z[k] = std::min(100.0, 110 - 60 * (x * x + y * y));
  }
  basin::plot::filled_contour(plateau, stem("filled_plateau"), style{});
  double painted = 0;
  for (const auto& p : band_polygons_of(stem("filled_plateau") + ".dat")) painted += polygon_area(p);
  BOOST_TEST(painted == 4.0, boost::test_tools::tolerance(1e-9));
  // data_levels: round levels inside the data's range (-10 to 100: 0, 10, ..., 90)
  const auto round = basin::plot::data_levels(plateau, false);
  BOOST_TEST_REQUIRE(round.size() == 10u);
  BOOST_TEST(round.front() == 0.0);
  BOOST_TEST(round.back() == 90.0);
  // Levels 1e-8 apart around ln 10: every band its own colour and every label its own text.
  grid2d close = bowl(9, 7);
  for (double& v : close.z) v = 2.302585 + 1e-7 * v;
  basin::plot::filled_contour(close, stem("filled_close"), style{});
  check_picture(stem("filled_close"));
  std::set<double> seen;
  for (const auto& p : band_polygons_of(stem("filled_close") + ".dat")) seen.insert(p[0][2]);
  BOOST_TEST(seen.size() >= 8u);
  const auto labels = basin::plot::detail::level_labels(basin::plot::detail::default_levels(close, false));
  BOOST_TEST(labels.size() >= 8u);
  BOOST_TEST(std::set<std::string>(labels.begin(), labels.end()).size() == labels.size());
}

// The texts of an SVG as gnuplot writes them: <g transform="translate(x,y)[ rotate(a)]" ...
// text-anchor="..."><text>label</text>.
struct svg_text {
  double x, y;
  bool rotated;
  std::string anchor, text;
};
std::vector<svg_text> svg_texts(const fs::path& p) {
  const std::string s = slurp(p);
  std::vector<svg_text> out;
  for (auto at = s.find("<g transform=\"translate("); at != std::string::npos;
       at = s.find("<g transform=\"translate(", at + 1)) {
    const auto head_end = s.find('>', at), open = s.find("<text>", at), close = s.find("</text>", at);
    if (head_end == std::string::npos || open == std::string::npos || close == std::string::npos) break;
    if (open > s.find("</g>", at)) continue;  // a group without text
    const std::string head = s.substr(at, head_end - at);
    svg_text t{};
    std::sscanf(head.c_str() + std::string("<g transform=\"translate(").size(), "%lf,%lf", &t.x, &t.y);
    t.rotated = head.find("rotate(") != std::string::npos;
    if (const auto a = head.find("text-anchor=\""); a != std::string::npos)
      t.anchor = head.substr(a + 13, head.find('"', a + 13) - (a + 13));
    t.text = s.substr(open + 6, close - open - 6);
    out.push_back(t);
  }
  return out;
}

// Characters in a UTF-8 text.
std::size_t characters(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// A map that spans 2e-7 around ln 10 (colour bar labels of ten characters) and one around 134000
// (six), in every picture with a colour bar: each tic label of the bar has its own text, reads as
// a number of the map's range, and ends left of the bar's label (wider than their characters at
// 0.64 of the font size, DejaVu Sans' digits), which is inside the picture. gnuplot's own tics
// printed six digits (2.30259 on every tic) and its margin fits about five characters: a longer
// label was cut at the picture's edge and the bar's label was drawn over the tic labels or not at all.
// The contour lines keep their levels' colours (gnuplot's tables wrote every level as 2.30259: one
// colour for all). A flat map of 1e20 is drawn (widened by 0.5, its range was empty).
BOOST_AUTO_TEST_CASE(colour_bars_fit_their_labels) {
  for (const auto& [centre, spread] : {std::pair{2.302585, 2e-7}, std::pair{134000.0, 20000.0}}) {
    grid2d g = bowl();
    for (double& v : g.z) v = centre + spread * (v - 0.1) / 3;  // [centre, centre + spread]
    style st;
    st.zlabel = "test loss";
    const double font = 11, width = st.width;
    using draw = void (*)(const grid2d&, const std::string&, const style&);
    const std::pair<const char*, draw> pictures[] = {
        {"contour", [](const grid2d& g, const std::string& s, const style& st) { basin::plot::contour(g, s, st); }},
        {"filled",
         [](const grid2d& g, const std::string& s, const style& st) { basin::plot::filled_contour(g, s, st); }},
        {"heatmap", &basin::plot::heatmap},
        {"surface", &basin::plot::surface3d}};
    for (const auto& [name, plot] : pictures) {
      const std::string s = stem(std::string("bar_") + name + (centre < 10 ? "_close" : "_large"));
      plot(g, s, st);
      check_picture(s);
      const auto texts = svg_texts(s + ".svg");
      const svg_text* label = nullptr;  // the bar's: rotated, the rightmost "test loss"
      for (const auto& t : texts)
        if (t.text == "test loss" && t.rotated && (label == nullptr || t.x > label->x)) label = &t;
      BOOST_TEST_REQUIRE(label != nullptr, s << ": no colour bar label");
      BOOST_TEST(label->x + 0.3 * font <= width, s << ": the bar's label at x = " << label->x << " is cut");
      std::vector<std::string> tics;
      for (const auto& t : texts) {
        if (t.anchor != "start" || t.rotated || t.x < 0.6 * width) continue;
        char* end = nullptr;
        const double v = std::strtod(t.text.c_str(), &end);
        if (*end != '\0' || !(v >= centre - 0.1 * spread && v <= centre + 1.1 * spread)) continue;
        tics.push_back(t.text);
        BOOST_TEST(t.x + 0.64 * font * double(characters(t.text)) <= label->x - 0.8 * font,
                   s << ": tic label '" << t.text << "' at x = " << t.x << " reaches the bar's label at " << label->x);
      }
      BOOST_TEST(tics.size() >= 5u, s << ": " << tics.size() << " tic labels on the colour bar");
      if (std::string(name) == "contour") {
        const std::string svg = slurp(s + ".svg");
        std::set<std::string> colours;
        for (auto at = svg.find("stroke='rgb("); at != std::string::npos; at = svg.find("stroke='rgb(", at + 1))
          colours.insert(svg.substr(at, svg.find(')', at) - at));
        BOOST_TEST(colours.size() >= 8u, s << ": contour lines in " << colours.size() - 1 << " colours");
      }
      BOOST_TEST(std::set<std::string>(tics.begin(), tics.end()).size() == tics.size(), s << ": repeated tic labels");
    }
  }
  grid2d flat = bowl(5, 4);
  for (double& v : flat.z) v = 1e20;
  for (const auto& [name, plot] : {std::pair<const char*, void (*)(const grid2d&, const std::string&, const style&)>{
                                       "heatmap", &basin::plot::heatmap},
                                   {"surface", &basin::plot::surface3d}}) {
    plot(flat, stem(std::string("bar_flat_") + name), style{});
    check_picture(stem(std::string("bar_flat_") + name));
  }
  basin::plot::contour(flat, stem("bar_flat_contour"), style{});
  basin::plot::filled_contour(flat, stem("bar_flat_filled"), style{});
}

// A 3-D surface whose lowest z tic sits at the bottom of the box: that tic's label (right-aligned
// left of the z axis' foot) and the x axis' first tic label (centred under the same corner) read
// apart, not as one word ("0-1", "2e+06-1"): the x label starts below the z label's baseline or
// a character's width right of its end. Boxes estimated from the font (digits 0.64 of its size
// wide, 0.73 tall above the baseline).
BOOST_AUTO_TEST_CASE(surface_corner_tic_labels_read_apart) {
  for (const auto& [low, spread] : {std::pair{0.0, 5.0}, std::pair{2e6, 1e7}}) {
    grid2d g = bowl();
    for (double& v : g.z) v = low + spread * (v - 0.1) / 3;  // [low, low + spread]
    const std::string s = stem("corner_" + std::to_string(int(low)));
    basin::plot::surface3d(g, s, style{});
    check_picture(s);
    const double font = 11;
    const auto texts = svg_texts(s + ".svg");
    const svg_text *z = nullptr, *x = nullptr;  // the lowest z tic label, the leftmost x tic label
    for (const auto& t : texts) {
      char* end = nullptr;
      std::strtod(t.text.c_str(), &end);
      if (t.rotated || t.text.empty() || *end != '\0') continue;
      if (t.anchor == "end" && t.x < 0.5 * style{}.width && (z == nullptr || t.y > z->y)) z = &t;
      if (t.anchor == "middle" && (x == nullptr || t.x < x->x)) x = &t;
    }
    BOOST_TEST_REQUIRE((z != nullptr && x != nullptr), s << ": tic labels not found");
    BOOST_TEST(std::stod(z->text) == low);
    BOOST_TEST(std::stod(x->text) == -1);
    const double x_top = x->y - 0.73 * font, x_left = x->x - 0.32 * font * double(characters(x->text));
    BOOST_TEST((x_top >= z->y + 1 || x_left >= z->x + font), s << ": x tic label '" << x->text << "' at (" << x->x
                                                               << ", " << x->y << ") runs into z tic label '" << z->text
                                                               << "' ending at (" << z->x << ", " << z->y << ")");
  }
}

// The axes' names stand clear of every tic label: at least one and a half font sizes of space
// across or down between their boxes (gnuplot's place left 14 pixels across and 3 down between
// "direction 1" and the x axis' "0", which it read as a label of).
BOOST_AUTO_TEST_CASE(surface_axis_names_clear_of_tic_labels) {
  style st;
  st.xlabel = "direction 1";
  st.ylabel = "direction 2";
  const std::string s = stem("axis_names_3d");
  basin::plot::surface3d(bowl(), s, st);
  check_picture(s);
  const double font = 11;
  struct box {
    double left, right, top, bottom;
  };
  const auto box_of = [&](const svg_text& t) {  // a character 0.6 of the font wide; ascent 0.73, descent 0.2
    const double w = 0.6 * font * double(characters(t.text));
    const double left = t.anchor == "middle" ? t.x - w / 2 : t.anchor == "end" ? t.x - w : t.x;
    return box{left, left + w, t.y - 0.73 * font, t.y + 0.2 * font};
  };
  const auto texts = svg_texts(s + ".svg");
  for (const std::string name : {"direction 1", "direction 2"}) {
    const auto label = std::find_if(texts.begin(), texts.end(), [&](const svg_text& t) { return t.text == name; });
    BOOST_TEST_REQUIRE((label != texts.end()), s << ": no '" << name << "'");
    const box a = box_of(*label);
    std::size_t tics = 0;
    for (const auto& t : texts) {
      char* end = nullptr;
      std::strtod(t.text.c_str(), &end);
      if (t.rotated || t.text.empty() || *end != '\0') continue;
      ++tics;
      const box b = box_of(t);
      const double across = std::max(b.left - a.right, a.left - b.right),
                   down = std::max(b.top - a.bottom, a.top - b.bottom);
      BOOST_TEST(std::max(across, down) >= 1.5 * font, s << ": '" << name << "' at (" << label->x << ", " << label->y
                                                         << ") is " << across << " px across and " << down
                                                         << " px down from tic label '" << t.text << "' at (" << t.x
                                                         << ", " << t.y << ")");
    }
    BOOST_TEST(tics >= 10u);  // the x, y and z axes' tic labels were all read
  }
}

BOOST_AUTO_TEST_CASE(nan_points_and_log_of_non_positive) {
  grid2d g = bowl();
  g.z[5 * 17 + 5] = NAN;        // a point not computed
  g.z[0] = INFINITY;            // a diverged one
  g.z[10 * 17 + 8] = 0;         // the centre: 0 + 0 + 0.1 -> forced to 0, masked under log_z
  g.z[10 * 17 + 9] = -0.5;      // and a negative one
  style st;
  basin::plot::contour(g, stem("nan_contour"), st);
  basin::plot::heatmap(g, stem("nan_heatmap"), st);
  basin::plot::surface3d(g, stem("nan_surface"), st);
  st.log_z = true;
  basin::plot::heatmap(g, stem("nan_heatmap_log"), st);
  basin::plot::surface3d(g, stem("nan_surface_log"), st);
  basin::plot::contour(g, stem("nan_contour_log"), st);
  for (const char* s : {"nan_contour", "nan_heatmap", "nan_surface", "nan_heatmap_log", "nan_surface_log",
                        "nan_contour_log"})
    check_picture(stem(s));
  // The holes: 4 cells around the NaN, 1 at the corner, 4 + 2 around the centre pair under log.
  BOOST_TEST(count(stem("nan_heatmap") + ".svg", "<polygon") >= 20u * 16u - 5u);
  BOOST_TEST(count(stem("nan_heatmap_log") + ".svg", "<polygon") >= 20u * 16u - 11u);
  BOOST_TEST(count(stem("nan_surface_log") + ".svg", "<polygon") >= 20u * 16u - 11u);
  // Non-finite values are written NaN; the rest exactly.
  grid2d expect = g;
  expect.z[0] = NAN;
  check_grid_dat(stem("nan_heatmap_log") + ".dat", expect);
  BOOST_TEST(slurp(stem("nan_heatmap_log") + ".gp").find("$3 > 0 ? $3 : NaN") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(stem_in_missing_folders) {
  const std::string s = stem("deep/er dir/it's \"fig\"");  // a space and quotes survive shell and gnuplot
  BOOST_TEST(!fs::exists(out_dir() / "deep"));
  style st;
  st.title = "title with \"quotes\", a back\\slash and\na second line";
  basin::plot::heatmap(bowl(5, 4), s, st);
  check_picture(s);
}

BOOST_AUTO_TEST_CASE(text_written_through_a_link) {
  // A picture's text file at a symbolic link: the file it points to gets the text, the link stays.
  const fs::path dir = out_dir() / "linked";
  fs::create_directories(dir / "real");
  const fs::path target = dir / "real" / "it.csv", link = dir / "it.csv";
  std::ofstream(target) << "old\n";
  fs::remove(link);
  fs::create_symlink(fs::path("real") / "it.csv", link);
  basin::plot::detail::write_text(link, "new\n", "test");
  BOOST_TEST(fs::is_symlink(link));
  std::ifstream in(target);
  std::string line;
  std::getline(in, line);
  BOOST_TEST(line == "new");
  for (const auto& e : fs::directory_iterator(dir / "real"))  // no part left beside the target
    BOOST_TEST(e.path().filename() == "it.csv");
  // A link to a file in a folder that is not there: the folder's error, the link kept.
  const fs::path dangling = dir / "gone.csv";
  fs::remove(dangling);
  fs::create_symlink(fs::path("missing") / "gone.csv", dangling);
  check_throws([&] { basin::plot::detail::write_text(dangling, "x", "test"); }, {"test", "missing"});
  BOOST_TEST(fs::is_symlink(dangling));
}

BOOST_AUTO_TEST_CASE(backquotes_run_nothing) {
  // gnuplot runs `text` in backquotes inside double-quoted strings: titles, labels and file names
  // go into single-quoted ones, where a backquote is a character like any other; file names start
  // with ./, so that < or | first is no pipe.
  const fs::path witness = out_dir() / "ran_by_gnuplot";  // gnuplot runs in the pictures' folder
  fs::remove(witness);
  const std::string cmd = "`touch ran_by_gnuplot`";
  const std::string s = stem("quote" + cmd);
  style st;
  st.title = "title " + cmd + "\nline two";
  st.xlabel = "x " + cmd;
  basin::plot::heatmap(bowl(5, 4), s, st);
  check_picture(s);
  std::vector<curve> c(1);
  c[0] = {{0, 1, 2}, {1, 0, 1}, "label " + cmd};
  basin::plot::curves(c, {}, stem("quoted_curves"), st);
  check_picture(stem("quoted_curves"));
  // Nor does a file name that gnuplot would take for a pipe (< or | first).
  // (";": a pipe would run `touch ran_by_gnuplot;.dat`, .png or .gp, one witness for all)
  for (const char* pipe : {"<touch ran_by_gnuplot;", "|touch ran_by_gnuplot;"}) {
    basin::plot::heatmap(bowl(5, 4), stem(pipe), st);
    check_picture(stem(pipe));
  }
  BOOST_TEST(!fs::exists(witness));
  BOOST_TEST(basin::plot::detail::gp_string("it's `a`\nb") == "'it''s `a`'.\"\\n\".'b'");
  BOOST_TEST(basin::plot::detail::gp_file("<x.dat") == "'./<x.dat'");
}

BOOST_AUTO_TEST_CASE(curves_loss_and_accuracy) {
  std::vector<curve> loss(2), acc(2);
  const char* names[] = {"train", "test"};
  for (int k = 0; k < 2; ++k) {
    loss[k].label = std::string(names[k]) + " loss";
    acc[k].label = std::string(names[k]) + " accuracy";
    for (int e = 0; e <= 50; ++e) {
      const double t = e / 50.0 * 2 - 1;  // alpha in [-1, 1]
      loss[k].x.push_back(t);
      acc[k].x.push_back(t);
      loss[k].y.push_back(0.05 + (k + 1) * t * t * 3);
      acc[k].y.push_back(100 - (k + 1) * 30 * t * t);
    }
  }
  loss[1].y[7] = NAN;
  style st;
  st.title = "1-D interpolation";
  st.xlabel = "alpha";
  st.log_z = true;
  basin::plot::curves(loss, acc, stem("curves"), st);
  check_picture(stem("curves"));
  const table t = read_table(stem("curves") + ".dat");
  BOOST_TEST(t.blank_lines == 3 * 2);  // two blank lines between the four data sets
  BOOST_TEST_REQUIRE(t.rows.size() == 4u * 51u);
  for (int k = 0; k < 4; ++k)
    for (int e = 0; e <= 50; ++e) {
      const curve& c = k < 2 ? loss[std::size_t(k)] : acc[std::size_t(k - 2)];
      const auto& r = t.rows[std::size_t(k * 51 + e)];
      BOOST_TEST(r[0] == c.x[std::size_t(e)]);
      BOOST_TEST(same(r[1], c.y[std::size_t(e)]));
    }
  const std::string gp = slurp(stem("curves") + ".gp");
  BOOST_TEST(gp.find("axes x1y2") != std::string::npos);
  BOOST_TEST(gp.find("set logscale y") != std::string::npos);
  BOOST_TEST(gp.find("'test accuracy'") != std::string::npos);
  for (const char* label : {"train loss", "test loss", "train accuracy", "test accuracy"})
    BOOST_TEST(count(stem("curves") + ".svg", std::string("<text>") + label + "</text>") == 1u, label);
  // A log-scaled x axis (learning rates): every x must be positive.
  style lx;
  lx.log_x = true;
  const curve rates{{1e-4, 1e-3, 1e-2}, {7.5, 8.0, 2.0}, "modes"};
  basin::plot::curves({rates}, {}, stem("log_x"), lx);
  check_picture(stem("log_x"));
  BOOST_TEST(slurp(stem("log_x") + ".gp").find("set logscale x") != std::string::npos);
  {  // the data's range, 5% of its decades wider on each side
    const double lo = *std::min_element(rates.x.begin(), rates.x.end()),
                 hi = *std::max_element(rates.x.begin(), rates.x.end()), pad = std::pow(hi / lo, 0.05);
    BOOST_TEST(count(stem("log_x") + ".gp", "set xrange [" + basin::plot::detail::number(lo / pad) + ":" +
                                                basin::plot::detail::number(hi * pad) + "]\n") == 1u);
    const std::string tics = "set xtics (" + basin::plot::detail::number(1e-4) + ", " +
                             basin::plot::detail::number(1e-3) + ", " + basin::plot::detail::number(1e-2) + ")\n";
    BOOST_TEST(count(stem("log_x") + ".gp", tics) == 1u);  // a tick at each x
  }
  BOOST_TEST(slurp(stem("curves") + ".gp").find("set logscale x") == std::string::npos);
  BOOST_CHECK_THROW(basin::plot::curves({loss[0]}, {}, stem("log_x_bad"), lx), basin::error);  // x from -1
  // A loss axis from 0 to 2 (plot_1D.py's ylim(0, loss_max)): the losses (up to 6.05) leave it.
  style lm;
  lm.vmin = 0;
  lm.vmax = 2;
  basin::plot::curves(loss, acc, stem("loss_max"), lm);
  check_picture(stem("loss_max"));
  BOOST_TEST(count(stem("loss_max") + ".gp", "set yrange [0:2]\n") == 1u);
  lm.vmin = NAN;
  lm.log_z = true;
  basin::plot::curves(loss, acc, stem("loss_max_log"), lm);
  BOOST_TEST(count(stem("loss_max_log") + ".gp", "set yrange [*:2]\n") == 1u);
  BOOST_TEST(slurp(stem("curves") + ".gp").find("set yrange") == std::string::npos);
  // One end given and every loss beyond it: the other end is set so that gnuplot has a range
  // (with `*` it finds no point to draw and fails).
  style beyond;
  beyond.vmax = 0.01;
  basin::plot::curves(loss, acc, stem("beyond"), beyond);
  check_picture(stem("beyond"));
  BOOST_TEST(count(stem("beyond") + ".gp", "set yrange [-0.99:0.01]\n") == 1u);
  beyond.log_z = true;
  basin::plot::curves(loss, acc, stem("beyond_log"), beyond);
  BOOST_TEST(count(stem("beyond_log") + ".gp", "set yrange [0.001:0.01]\n") == 1u);
  beyond.vmax = NAN;
  beyond.vmin = 100;
  basin::plot::curves(loss, acc, stem("beyond_below"), beyond);
  BOOST_TEST(count(stem("beyond_below") + ".gp", "set yrange [100:1000]\n") == 1u);
  // Accuracy alone goes on the left axis.
  basin::plot::curves({}, acc, stem("acc_only"), style{});
  check_picture(stem("acc_only"));
  BOOST_TEST(slurp(stem("acc_only") + ".gp").find("axes x1y2") == std::string::npos);
  // Dash types: the groups' own (loss solid, accuracy dashed) unless a curve names one.
  BOOST_TEST(count(stem("curves") + ".gp", " dt 1 ") == 2u);
  BOOST_TEST(count(stem("curves") + ".gp", " dt 2 ") == 2u);
  auto copy = loss[0];
  copy.dash = 2;
  auto dotted = acc[0];
  dotted.dash = 3;
  basin::plot::curves({loss[0], copy}, {dotted}, stem("dashes"), style{});
  check_picture(stem("dashes"));
  BOOST_TEST(count(stem("dashes") + ".gp", " dt 1 ") == 1u);
  BOOST_TEST(count(stem("dashes") + ".gp", " dt 2 ") == 1u);
  BOOST_TEST(count(stem("dashes") + ".gp", " dt 3 ") == 1u);
  copy.dash = 9;
  check_throws([&] { basin::plot::curves({copy}, {}, stem("dashes_bad"), style{}); },
               {"plot::curves", "loss_curves[0]", "dash 9"});
  // Colours: by position in the group (loss k and accuracy k alike) unless a curve names one; the
  // paper's 1-D figures: loss blue, accuracy red, training solid and test dashed.
  const std::string blue = "lc rgb \"" + basin::plot::detail::line_colour(0) + "\"",
                    orange = "lc rgb \"" + basin::plot::detail::line_colour(1) + "\"",
                    red = "lc rgb \"" + basin::plot::detail::line_colour(3) + "\"";
  BOOST_TEST(count(stem("curves") + ".gp", blue) == 2u);
  BOOST_TEST(count(stem("curves") + ".gp", orange) == 2u);
  auto train_loss = loss[0], test_loss = loss[1], train_acc = acc[0], test_acc = acc[1];
  train_loss.colour = test_loss.colour = 0;
  train_acc.colour = test_acc.colour = 3;
  test_loss.dash = test_acc.dash = 2;
  train_acc.dash = 1;
  basin::plot::curves({train_loss, test_loss}, {train_acc, test_acc}, stem("colours"), style{});
  check_picture(stem("colours"));
  BOOST_TEST(count(stem("colours") + ".gp", blue) == 2u);
  BOOST_TEST(count(stem("colours") + ".gp", red) == 2u);
  BOOST_TEST(count(stem("colours") + ".gp", orange) == 0u);
  BOOST_TEST(count(stem("colours") + ".gp", " dt 1 ") == 2u);
  BOOST_TEST(count(stem("colours") + ".gp", " dt 2 ") == 2u);
  // The legend's rows are counted and kept free under the x label: two 30-character entries a
  // row at 900 px (gnuplot fits no more), so six take three rows.
  std::vector<curve> six;
  for (const auto* c : {&train_loss, &test_loss, &train_acc, &test_acc, &loss[0], &acc[0]}) {
    six.push_back(*c);
    six.back().label = std::string(30, char('a' + six.size()));
  }
  basin::plot::curves(six, {}, stem("legend_rows"), style{});
  check_picture(stem("legend_rows"));
  BOOST_TEST(count(stem("legend_rows") + ".gp", "maxcols 2 ") == 1u);
  BOOST_TEST(count(stem("legend_rows") + ".gp", "set bmargin 7.75\n") == 1u);
  BOOST_TEST(count(stem("colours") + ".gp", "maxcols 3 ") == 1u);  // 14 characters at most: three a row
  // Markers: on a curve that asks for them, and on none of the others here (no isolated points).
  BOOST_TEST(count(stem("colours") + ".gp", "with linespoints") == 0u);
  train_loss.points = true;
  basin::plot::curves({train_loss, test_loss}, {}, stem("points"), style{});
  check_picture(stem("points"));
  BOOST_TEST(count(stem("points") + ".gp", "with linespoints") == 1u);
  for (int bad : {-2, 10}) {
    test_acc.colour = bad;
    const std::string what = "colour " + std::to_string(bad);
    check_throws(
        [&] {
          basin::plot::curves({}, {train_acc, test_acc}, stem("colours_bad"), style{});
        },
        {"plot::curves", "acc_curves[1]", what.c_str()});
  }
  // Intervals: error bars from the .dat's third and fourth columns, on that curve only.
  curve est = loss[0];
  for (std::size_t i = 0; i < est.x.size(); ++i) est.low.push_back(est.y[i] - 0.1), est.high.push_back(est.y[i] + 0.2);
  basin::plot::curves({est, loss[1]}, {acc[0]}, stem("intervals"), style{});
  check_picture(stem("intervals"));
  BOOST_TEST(count(stem("intervals") + ".gp", "using 1:2:3:4 with yerrorlines") == 1u);
  BOOST_TEST(count(stem("intervals") + ".gp", "yerrorlines") == 1u);
  const std::string first = basin::plot::detail::number(est.x[0]) + ' ' + basin::plot::detail::number(est.y[0]) + ' ' +
                            basin::plot::detail::number(est.low[0]) + ' ' + basin::plot::detail::number(est.high[0]) +
                            '\n';
  BOOST_TEST(count(stem("intervals") + ".dat", first) == 1u);
  auto shorter = est;
  shorter.high.pop_back();
  check_throws([&] { basin::plot::curves({shorter}, {}, stem("intervals_bad"), style{}); },
               {"plot::curves", "loss_curves[0]", "expected none or"});
  auto outside = est;
  outside.low[1] = est.y[1] + 0.05;
  check_throws([&] { basin::plot::curves({outside}, {}, stem("intervals_bad"), style{}); },
               {"plot::curves", "loss_curves[0]", "of point 1 does not hold y"});
  auto unbounded = est;
  unbounded.high[2] = INFINITY;
  check_throws([&] { basin::plot::curves({unbounded}, {}, stem("intervals_bad"), style{}); },
               {"plot::curves", "loss_curves[0]", "of point 2 does not hold y", "with finite ends"});
  style log_loss;
  log_loss.log_z = true;
  auto to_zero = est;
  to_zero.low[3] = 0;
  check_throws([&] { basin::plot::curves({to_zero}, {}, stem("intervals_bad"), log_loss); },
               {"plot::curves", "loss_curves[0]", "of point 3", "finite, positive ends (a log axis)"});
  basin::plot::curves({to_zero}, {}, stem("intervals_linear"), style{});  // 0 is a fine end on a linear axis
  check_picture(stem("intervals_linear"));
}

BOOST_AUTO_TEST_CASE(histograms_bins_and_counts) {
  std::vector<std::vector<double>> w(2);
  std::mt19937 rng(7);
  std::normal_distribution<double> normal;
  for (int i = 0; i < 20000; ++i) {  // two bells: a narrow and a wide one
    w[0].push_back(0.05 * normal(rng));
    w[1].push_back(0.1 * normal(rng) + 0.02);
  }
  w[1].push_back(NAN);  // skipped
  style st;
  st.title = "weights";
  st.xlabel = "weight";
  st.ylabel = "count";
  basin::plot::histograms(w, {"small batch", "large batch"}, stem("hist"), st, 60);
  check_picture(stem("hist"));
  const table t = read_table(stem("hist") + ".dat");
  BOOST_TEST_REQUIRE(t.rows.size() == 60u);
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : w)
    for (double v : s)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  BOOST_TEST(t.rows.front()[0] == lo);
  BOOST_TEST(t.rows.back()[1] == hi);
  double n0 = 0, n1 = 0;
  for (std::size_t b = 0; b < t.rows.size(); ++b) {
    const auto& r = t.rows[b];
    BOOST_TEST_REQUIRE(r.size() == 5u);
    if (b > 0) BOOST_TEST(r[0] == t.rows[b - 1][1]);  // bins tile the range
    n0 += r[3], n1 += r[4];
    // Recount bin b of each sample directly.
    for (std::size_t k = 0; k < w.size(); ++k) {
      double c = 0;
      for (double v : w[k]) c += (v >= r[0] && (v < r[1] || (b + 1 == t.rows.size() && v <= r[1]))) ? 1 : 0;
      BOOST_TEST(std::abs(c - r[3 + k]) <= 1, "sample " << k << ", bin " << b);  // edges may round one value across
    }
  }
  BOOST_TEST(n0 == 20000);
  BOOST_TEST(n1 == 20000);
  BOOST_TEST(count(stem("hist") + ".svg", "<text>large batch</text>") == 1u);
  st.log_z = true;
  basin::plot::histograms({{1.0, 1.0, 1.0}}, {"constant"}, stem("hist_const"), st, 5);  // all equal
  check_picture(stem("hist_const"));
}

BOOST_AUTO_TEST_CASE(image_grid_pixels_and_picture) {
  // Three grey 2x2 images in rows of two: a 5x5 mosaic, white gaps, [-1, 1] -> 0..255, clipped.
  const std::vector<float> imgs{-1, 1, 0, 0.5f,  // image 0
                                2, -3, -1, -1,   // image 1 (clipped to 255, 0)
                                0, 0, 0, 1};     // image 2
  const auto m = basin::plot::make_mosaic(imgs, {1, 2, 2}, 2, -1, 1);
  BOOST_TEST(m.width == 5);
  BOOST_TEST(m.height == 5);
  const std::vector<int> want{0,   255, 255, 255, 0,    //
                              128, 191, 255, 0,   0,    //
                              255, 255, 255, 255, 255,  //
                              128, 128, 255, 255, 255,  //
                              128, 255, 255, 255, 255};
  BOOST_TEST_REQUIRE(m.pixels.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST(int(m.pixels[i]) == want[i], "pixel " << i);
  style st;
  st.title = "samples";
  st.svg = false;
  basin::plot::image_grid(imgs, {1, 2, 2}, 2, stem("grid"), st);
  check_picture(stem("grid"), false);
  const std::string pgm = slurp(stem("grid") + ".pgm");
  BOOST_TEST(pgm.substr(0, 11) == "P5\n5 5\n255\n");
  BOOST_TEST_REQUIRE(pgm.size() == 11u + 25u);
  for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST(int(std::uint8_t(pgm[11 + i])) == want[i]);
  BOOST_TEST(read_table(stem("grid") + ".dat").rows.size() == 25u);
  // RGB: one 1x1 image, channel planes (c, h, w) -> interleaved bytes.
  basin::plot::image_grid({0.0f, 1.0f, 0.5f}, {3, 1, 1}, 4, stem("rgb"), st, 0, 1);
  const std::string ppm = slurp(stem("rgb") + ".ppm");
  BOOST_TEST(ppm == std::string("P6\n1 1\n255\n") + char(0) + char(255) + char(128));
  check_throws([&] { basin::plot::image_grid(imgs, {2, 2, 2}, 2, stem("e"), st); }, {"plot::image_grid", "shape", "2"});
  check_throws([&] { basin::plot::image_grid({1, 2, 3}, {1, 2, 2}, 2, stem("e"), st); }, {"images", "4", "got 3"});
  check_throws([&] { basin::plot::image_grid(imgs, {1, 2, 2}, 0, stem("e"), st); }, {"columns"});
  check_throws([&] { basin::plot::image_grid(imgs, {1, 2, 2}, 2, stem("e"), st, 1, 1); }, {"lo, hi"});
  auto bad = imgs;
  bad[5] = NAN;
  check_throws([&] { basin::plot::image_grid(bad, {1, 2, 2}, 2, stem("e"), st); }, {"value 1 of image 1"});
  style narrow = st;
  narrow.width = 10;
  check_throws([&] { basin::plot::image_grid(imgs, {1, 2, 2}, 2, stem("e"), narrow); }, {"style.width", "got 10 x"});
  BOOST_TEST(!fs::exists(stem("e") + ".pgm"));
  // A grid's value outside it: refused, not read past its values.
  grid2d tiny = bowl(2, 2);
  check_throws([&] { (void)tiny.at(5, 7); }, {"grid2d::at: (i, j) = (5, 7)", "2 x 2"});
  check_throws([&] { (void)tiny.at(-1, 0); }, {"grid2d::at"});
  tiny.z.pop_back();
  check_throws([&] { (void)tiny.at(0, 0); }, {"with 3 values"});
}

BOOST_AUTO_TEST_CASE(failing_script_names_script_and_status) {
  fs::create_directories(out_dir());
  const fs::path bad = out_dir() / "bad.gp";
  std::ofstream(bad) << "set terminal pngcairo\nset output 'bad.png'\nplot sin(x) with nonsense\n";
  check_throws([&] { basin::plot::render(bad); }, {"bad.gp", "exited with status"});
  check_throws([&] { basin::plot::render(out_dir() / "missing.gp"); }, {"missing.gp", "does not exist"});
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(missing_gnuplot_is_an_error_naming_the_script) {
  env_guard env("BASIN_GNUPLOT", "/nonexistent/gnuplot");
  BOOST_TEST(!basin::plot::gnuplot_available());
  check_throws([] { basin::plot::heatmap(bowl(), stem("no_gnuplot"), style{}); },
               {"no_gnuplot.gp", "/nonexistent/gnuplot", "127"});
  BOOST_TEST(fs::exists(stem("no_gnuplot") + ".dat"));  // data and script are still there
  BOOST_TEST(fs::exists(stem("no_gnuplot") + ".gp"));
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected_before_writing) {
  using namespace basin::plot;
  const style st;
  auto g = bowl();
  check_throws([&] { contour(grid2d{}, stem("e"), st); }, {"plot::contour", "at least 2", "nx = 0"});
  g.z.pop_back();
  check_throws([&] { heatmap(g, stem("e"), st); }, {"plot::heatmap", "train_loss", "z has 356", "357"});
  g = bowl();
  g.x[3] = g.x[2];
  check_throws([&] { surface3d(g, stem("e"), st); }, {"plot::surface3d", "x must be strictly increasing", "x[3]"});
  g = bowl();
  std::swap(g.y[0], g.y[1]);
  check_throws([&] { basin::write_vtk(g, stem("e.vtk")); }, {"write_vtk", "y must be strictly increasing"});
  g = bowl();
  g.y[4] = NAN;
  check_throws([&] { basin::write_csv(g, stem("e.csv")); }, {"write_csv", "y[4]", "not finite"});
  g = bowl();
  for (double& v : g.z) v = NAN;
  check_throws([&] { heatmap(g, stem("e"), st); }, {"no finite value"});
  g = bowl();
  for (double& v : g.z) v = -v;
  style lg;
  lg.log_z = true;
  check_throws([&] { surface3d(g, stem("e"), lg); }, {"log_z", "positive"});
  check_throws([&] { contour(bowl(), stem("e"), lg, {1.0, -1.0}); }, {"levels[1]"});
  style hl;
  hl.highlight = INFINITY;
  check_throws([&] { contour(bowl(), stem("e"), hl); }, {"style.highlight"});
  style range;
  range.vmin = 2;
  range.vmax = 2;
  check_throws([&] { heatmap(bowl(), stem("e"), range); }, {"plot::heatmap", "style.vmin = 2", "below style.vmax = 2"});
  range.vmin = -INFINITY;
  range.vmax = NAN;
  check_throws([&] { surface3d(bowl(), stem("e"), range); }, {"plot::surface3d", "style.vmin = -inf", "finite"});
  range.vmin = 0;
  range.log_z = true;
  check_throws([&] { heatmap(bowl(), stem("e"), range); }, {"style.vmin = 0", "positive (log_z)"});
  check_throws(
      [&] {
        curves({curve{{0, 1}, {1, 2}, "c"}}, {}, stem("e"), range);
      },
      {"plot::curves", "style.vmin = 0", "positive (log_z)"});
  style tiny;
  tiny.width = 10;
  check_throws([&] { heatmap(bowl(), stem("e"), tiny); }, {"style.width"});
  check_throws([&] { heatmap(bowl(), "", st); }, {"stem", "names no file"});
  check_throws([&] { heatmap(bowl(), stem("dir/"), st); }, {"stem", "names no file"});
  check_throws([&] { basin::write_vtk(bowl(), stem("e.vtk"), false, NAN); }, {"clip_max"});

  curve c{{0, 1, 2}, {1, 2}, "short"};
  check_throws([&] { curves({c}, {}, stem("e"), st); }, {"loss_curves[0]", "'short'", "x has 3", "y has 2"});
  check_throws([&] { curves({}, {curve{{}, {}, "empty"}}, stem("e"), st); }, {"acc_curves[0]", "no points"});
  check_throws([&] { curves({}, {}, stem("e"), st); }, {"both empty"});
  check_throws([&] { curves({curve{{0, NAN}, {1, 2}, "x"}}, {}, stem("e"), st); }, {"loss_curves[0]", "x[1]"});
  check_throws([&] { curves({curve{{0, 1}, {0, -1}, "neg"}}, {}, stem("e"), lg); }, {"positive"});
  check_throws([&] { histograms({{1, 2}}, {"a", "b"}, stem("e"), st); }, {"labels has 2", "samples has 1"});
  check_throws([&] { histograms({{1, 2}, {}}, {"a", "b"}, stem("e"), st); }, {"samples[1]", "'b'", "no values"});
  check_throws([&] { histograms({{NAN}}, {"a"}, stem("e"), st); }, {"samples[0]", "no finite value"});
  check_throws([&] { histograms({{1, 2}}, {"a"}, stem("e"), st, 0); }, {"bins = 0"});
  check_throws([&] { histograms({}, {}, stem("e"), st); }, {"samples is empty"});
  // Nothing was written for any of them.
  BOOST_TEST(!fs::exists(stem("e.dat")));
  BOOST_TEST(!fs::exists(stem("e.vtk")));
  BOOST_TEST(!fs::exists(stem("e.csv")));
}

// Every cell of a .vtk file write_vtk wrote is a grid cell (i, j) with its corners, as point
// numbers below the file's count, at (x_i, y_j) (x_i+1, y_j) (x_i+1, y_j+1) (x_i, y_j+1), and the
// cells are exactly those whose four corners were computed, in order.
void check_vtk_cells(const grid2d& g, const std::string& text) {
  std::istringstream in(text.substr(text.find("POINTS ")));
  std::string word, type;
  long n = 0, m = 0, size = 0;
  in >> word >> n >> type;
  std::vector<std::pair<std::size_t, std::size_t>> at;  // point number -> (i, j)
  for (long k = 0; k < n; ++k) {
    double x = 0, y = 0, z = 0;
    in >> x >> y >> z;
    const auto i = std::size_t(std::find(g.x.begin(), g.x.end(), x) - g.x.begin());
    const auto j = std::size_t(std::find(g.y.begin(), g.y.end(), y) - g.y.begin());
    BOOST_TEST_REQUIRE((i < g.x.size() && j < g.y.size()), "point " << k << " at (" << x << ", " << y << ")");
    at.push_back({i, j});
  }
  std::vector<std::pair<std::size_t, std::size_t>> expect;  // the cells with four computed corners
  const std::size_t ny = g.y.size();
  const auto computed = [&](std::size_t i, std::size_t j) { return std::isfinite(g.z[i * ny + j]); };
  for (std::size_t i = 0; i + 1 < g.x.size(); ++i)
    for (std::size_t j = 0; j + 1 < ny; ++j)
      if (computed(i, j) && computed(i + 1, j) && computed(i + 1, j + 1) && computed(i, j + 1))
        expect.push_back({i, j});
  in >> word >> m >> size;
  BOOST_TEST(word == "POLYGONS");
  BOOST_TEST_REQUIRE(m == long(expect.size()));
  for (long c = 0; c < m; ++c) {
    long four = 0, id[4] = {};
    in >> four >> id[0] >> id[1] >> id[2] >> id[3];
    BOOST_TEST_REQUIRE(four == 4);
    const auto [i, j] = expect[std::size_t(c)];
    const std::pair<std::size_t, std::size_t> corners[4] = {{i, j}, {i + 1, j}, {i + 1, j + 1}, {i, j + 1}};
    for (int q = 0; q < 4; ++q) {
      BOOST_TEST_REQUIRE((id[q] >= 0 && id[q] < n), "cell " << c << " names point " << id[q] << " of " << n);
      BOOST_TEST((at[std::size_t(id[q])] == corners[q]), "cell " << c << ", corner " << q);
    }
  }
}

BOOST_AUTO_TEST_CASE(vtk_layout_counts_clip_and_log) {
  grid2d g = bowl();
  const std::string path = stem("vtk/bowl.vtk");  // folder created
  basin::write_vtk(g, path);
  std::istringstream in(slurp(path));
  std::string line;
  std::getline(in, line);
  BOOST_TEST(line == "# vtk DataFile Version 3.0");
  std::getline(in, line);
  BOOST_TEST(line.find("train_loss") != std::string::npos);
  std::getline(in, line);
  BOOST_TEST(line == "ASCII");
  std::getline(in, line);
  BOOST_TEST(line == "DATASET POLYDATA");
  std::string word, type;
  long n = 0, m = 0, size = 0;
  in >> word >> n >> type;
  BOOST_TEST(word == "POINTS");
  BOOST_TEST(n == 21 * 17);
  BOOST_TEST(type == "double");
  std::vector<double> pts(std::size_t(3 * n));
  for (auto& v : pts) in >> v;
  for (std::size_t k = 0; k < g.z.size(); ++k) {
    BOOST_TEST(pts[3 * k + 0] == g.x[k / 17]);
    BOOST_TEST(pts[3 * k + 1] == g.y[k % 17]);
    BOOST_TEST(pts[3 * k + 2] == g.z[k]);
  }
  in >> word >> m >> size;
  BOOST_TEST(word == "POLYGONS");
  BOOST_TEST(m == 20 * 16);
  BOOST_TEST(size == 5 * m);
  long four = 0, a = 0, b = 0, c = 0, d = 0;
  in >> four >> a >> b >> c >> d;  // the first cell: (0,0) (1,0) (1,1) (0,1)
  BOOST_TEST(four == 4);
  BOOST_TEST((a == 0 && b == 17 && c == 18 && d == 1));
  for (long k = 1; k < m; ++k) in >> four >> a >> b >> c >> d;
  in >> word >> n;
  BOOST_TEST(word == "POINT_DATA");
  BOOST_TEST(n == 21 * 17);
  in >> word >> word >> type >> four;
  BOOST_TEST(word == "train_loss");
  std::getline(in, line);
  std::getline(in, line);
  BOOST_TEST(line == "LOOKUP_TABLE default");
  double v = 0;
  for (long k = 0; k < n; ++k) {
    in >> v;
    BOOST_TEST(v == g.z[std::size_t(k)]);
  }
  BOOST_TEST(!(in >> v));  // nothing after
  check_vtk_cells(g, slurp(path));

  // An interior point not computed drops one point and the four cells around it; clipping
  // then log as h52vtp: ln(min(v, clip) + 0.1).
  g.z[5 * 17 + 5] = NAN;
  basin::write_vtk(g, path, true, 1.0);
  const std::string s = slurp(path);
  BOOST_TEST(s.find("POINTS 356 double") != std::string::npos);
  BOOST_TEST(s.find("POLYGONS 316 1580") != std::string::npos);
  BOOST_TEST(s.find("POINT_DATA 356") != std::string::npos);
  check_vtk_cells(g, s);  // the points after the hole renumbered, the four cells around it gone
  BOOST_TEST(s.find("nan") == std::string::npos);
  const auto at = s.find("LOOKUP_TABLE default\n");
  std::istringstream vs(s.substr(at + 21));
  std::size_t k = 0;
  for (std::size_t p = 0; p < g.z.size(); ++p) {
    if (std::isnan(g.z[p])) continue;
    vs >> v;
    BOOST_TEST(v == std::log(std::min(g.z[p], 1.0) + 0.1), "point " << p);
    ++k;
  }
  BOOST_TEST(k == 356u);

  // A sweep stopped after its first row: points but no whole cell. VTK's reader takes
  // "POLYGONS 0 0" for a broken file and drops the scalars after it, so the section is left
  // out; with no point at all, POINT_DATA too.
  grid2d part = bowl(3, 3);
  for (std::size_t p = 0; p < part.z.size(); ++p)
    if (p % 3 != 0) part.z[p] = NAN;
  basin::write_vtk(part, path);
  const std::string sp = slurp(path);
  BOOST_TEST(sp.find("POINTS 3 double") != std::string::npos);
  BOOST_TEST(sp.find("POLYGONS") == std::string::npos);
  BOOST_TEST(sp.find("POINT_DATA 3") != std::string::npos);
  for (auto& v2 : part.z) v2 = NAN;
  basin::write_vtk(part, path);
  const std::string none = slurp(path);
  BOOST_TEST(none.find("POINTS 0 double") != std::string::npos);
  BOOST_TEST(none.find("POLYGONS") == std::string::npos);
  BOOST_TEST(none.find("POINT_DATA") == std::string::npos);
  check_throws([&] { basin::write_vtk(bowl(), path, false, -INFINITY); }, {"write_vtk", "clip_max is -inf"});
}

// Level and tic labels: %g's digits without its exponent where a plain number is as short to
// read, and round tics whose labels tell them apart.
BOOST_AUTO_TEST_CASE(tic_labels_and_round_tics) {
  using basin::plot::detail::level_labels;
  using basin::plot::detail::round_tics;
  using basin::plot::detail::short_number;
  BOOST_TEST(short_number(142000, 3) == "142000");  // %g: 1.42e+05
  BOOST_TEST(short_number(-999.7, 3) == "-1000");
  BOOST_TEST(short_number(0.000125, 3) == "0.000125");
  BOOST_TEST(short_number(2e-5, 3) == "2e-05");
  BOOST_TEST(short_number(1.5e7, 3) == "1.5e+07");
  BOOST_TEST(short_number(-0.0, 3) == "0");
  BOOST_TEST((level_labels({124000, 126000, 128000}) == std::vector<std::string>{"124000", "126000", "128000"}));
  BOOST_TEST((level_labels({2.30258502, 2.30258504}) == std::vector<std::string>{"2.30258502", "2.30258504"}));
  // levels written as they are when 6 digits do (%g's), else near enough to tell their spacing
  BOOST_TEST((level_labels({0.1234, 0.5678}) == std::vector<std::string>{"0.1234", "0.5678"}));
  BOOST_TEST((level_labels({100000.5, 100001.5}) == std::vector<std::string>{"100000.5", "100001.5"}));
  BOOST_TEST((level_labels({1.0 / 3, 2.0 / 3}) == std::vector<std::string>{"0.333", "0.667"}));
  // one notation: an exponent on every nonzero label where one needs it, with the same digits
  using labels = std::vector<std::string>;
  BOOST_TEST((level_labels({8e6, 9.8e6, 1e7, 1.1e7}) == labels{"8e+06", "9.8e+06", "1e+07", "1.1e+07"}));
  BOOST_TEST((level_labels({0, 5e-5, 1e-4, 1.25e-4}) == labels{"0", "5e-05", "1e-04", "1.25e-04"}));
  BOOST_TEST(
      (round_tics(1e-8, 1e4, true).text == labels{"1e-08", "1e-06", "1e-04", "1e-02", "1e+00", "1e+02", "1e+04"}));
  BOOST_TEST((round_tics(0.3, 2000, true).text[0] == "0.5"));  // no exponent needed: none
  // (0 up to rounding is 0, not 5.55e-17 turning every label into an exponent)
  BOOST_TEST((level_labels({-0.3, -0.2, -0.3 + 2 * 0.1, -0.3 + 3 * 0.1, -0.3 + 4 * 0.1}) ==
              labels{"-0.3", "-0.2", "-0.1", "0", "0.1"}));
  BOOST_TEST((level_labels({1e-20}) == labels{"1e-20"}));  // one level: no spacing to compare with
  // Linear: 1-2-5 tics about a sixth of the range apart, each the short decimal its label reads.
  const auto check = [](double lo, double hi, bool log_z, std::vector<double> want) {
    const auto t = round_tics(lo, hi, log_z);
    BOOST_TEST_REQUIRE(t.at.size() == want.size(), lo << " .. " << hi);
    for (std::size_t k = 0; k < want.size(); ++k) {
      BOOST_TEST(t.at[k] == want[k], lo << " .. " << hi << ": tic " << k);
      BOOST_TEST(std::strtod(t.text[k].c_str(), nullptr) == want[k], t.text[k]);
    }
  };
  check(0.1, 3.1, false, {0.5, 1, 1.5, 2, 2.5, 3});
  check(-1, 1, false, {-1, -0.8, -0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8, 1});
  check(0, 1.3, false, {0, 0.2, 0.4, 0.6, 0.8, 1, 1.2});
  check(0.3, 2000, true, {0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000});
  check(1e-8, 1e4, true, {1e-8, 1e-6, 1e-4, 1e-2, 1, 100, 1e4});
  check(0.05, 2000, true, {0.1, 1, 10, 100, 1000});  // 1-2-5 tics past five decades: powers of ten
  check(1e-12, 1e7, true, {1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1, 100, 1e4, 1e6});  // at most ten
  check(0.12, 0.18, true, {0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18});  // no 1-2-5 tic inside: linear ones
  check(2.302585, std::nextafter(2.302585, 3.0), false, {2.302585, std::nextafter(2.302585, 3.0)});  // its ends
  const auto close = round_tics(2.302585, 2.3025852, false);
  BOOST_TEST(close.at.size() >= 5u);
  BOOST_TEST(std::set<std::string>(close.text.begin(), close.text.end()).size() == close.text.size());
  for (double a : close.at) BOOST_TEST((a >= 2.302585 && a <= 2.3025852));
  // A cut end labelled with the digits of the tics beside it.
  grid2d g = bowl();
  for (double& v : g.z) v = 2.302585 + 2e-7 * (v - 0.1) / 3;
  style st;
  st.vmax = 2.30258513;
  const auto cut = basin::plot::detail::bar_tics(g, st, 2.302585, 2.30258513);
  BOOST_TEST_REQUIRE(cut.text.size() >= 2u);
  BOOST_TEST(cut.text.back() == "≥ 2.30258513");
  BOOST_TEST(cut.text[cut.text.size() - 2] == "2.30258512");
}

BOOST_AUTO_TEST_CASE(csv_round_trip) {
  grid2d g = bowl(7, 5);
  g.name = "test, acc";  // needs quoting
  g.z[3] = NAN;
  g.z[4] = INFINITY;
  g.x[2] = -0.1 / 0.3;  // -0.33333333333333337: the shortest text must read back exactly
  const std::string path = stem("csv/bowl.csv");
  basin::write_csv(g, path);
  std::istringstream in(slurp(path));
  std::string line;
  std::getline(in, line);
  BOOST_TEST(line == "x,y,\"test, acc\"");
  std::size_t k = 0;
  while (std::getline(in, line)) {
    std::vector<double> r;
    std::istringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) r.push_back(std::strtod(cell.c_str(), nullptr));
    BOOST_TEST_REQUIRE(r.size() == 3u);
    BOOST_TEST(r[0] == g.x[k / 5]);
    BOOST_TEST(r[1] == g.y[k % 5]);
    BOOST_TEST(same(r[2], g.z[k]));
    ++k;
  }
  BOOST_TEST(k == 35u);
  BOOST_TEST(slurp(path).find(",nan\n") != std::string::npos);
  BOOST_TEST(slurp(path).find(",inf\n") != std::string::npos);
}

namespace {
// Checks the contour labels of g: each on its level (on a grid line, where the linear
// interpolation along it gives the level), inside the margin, at most per_level per level, and
// every two at least `spacing` apart (in fractions of the axes' spans).
void check_labels(const grid2d& g, const std::vector<basin::plot::detail::contour_label>& labels, double spacing,
                  int per_level, double margin) {
  const double xs = g.x.back() - g.x.front(), ys = g.y.back() - g.y.front();
  std::map<double, int> per;
  for (std::size_t a = 0; a < labels.size(); ++a) {
    const auto& l = labels[a];
    ++per[l.level];
    const double u = (l.x - g.x.front()) / xs, v = (l.y - g.y.front()) / ys;
    BOOST_TEST((u >= margin && u <= 1 - margin && v >= margin && v <= 1 - margin));
    // On the grid line x = x[i] (between y[j] and y[j+1]) or y = y[j].
    double on = INFINITY;
    for (basin::index_t i = 0; i < g.nx(); ++i)
      for (basin::index_t j = 0; j + 1 < g.ny(); ++j)
        if (l.x == g.x[std::size_t(i)] && l.y >= g.y[std::size_t(j)] && l.y <= g.y[std::size_t(j + 1)]) {
          const double t = (l.y - g.y[std::size_t(j)]) / (g.y[std::size_t(j + 1)] - g.y[std::size_t(j)]);
          on = std::min(on, std::abs(g.at(i, j) + t * (g.at(i, j + 1) - g.at(i, j)) - l.level));
        }
    for (basin::index_t j = 0; j < g.ny(); ++j)
      for (basin::index_t i = 0; i + 1 < g.nx(); ++i)
        if (l.y == g.y[std::size_t(j)] && l.x >= g.x[std::size_t(i)] && l.x <= g.x[std::size_t(i + 1)]) {
          const double t = (l.x - g.x[std::size_t(i)]) / (g.x[std::size_t(i + 1)] - g.x[std::size_t(i)]);
          on = std::min(on, std::abs(g.at(i, j) + t * (g.at(i + 1, j) - g.at(i, j)) - l.level));
        }
    BOOST_TEST(on < 1e-12, "label " << a << " at (" << l.x << ", " << l.y << ") is not on level " << l.level);
    for (std::size_t b = 0; b < a; ++b)
      BOOST_TEST(std::hypot((l.x - labels[b].x) / xs, (l.y - labels[b].y) / ys) >= spacing);
  }
  for (const auto& [level, k] : per) BOOST_TEST(k <= per_level, "level " << level);
}
}  // namespace

BOOST_AUTO_TEST_CASE(contour_labels_on_their_lines_and_spaced) {
  using basin::plot::detail::contour_labels;
  // The bowl's default levels are nested ellipses with room between them: each gets a label, the
  // larger ones more than one, except 2.6, whose arcs lie in the corners, within the margin.
  const grid2d g = bowl(41, 33);
  const std::vector<double> levels{0.6, 1.1, 1.6, 2.1, 2.6};
  const auto labels = contour_labels(g, levels, false);
  check_labels(g, labels, 0.12, 3, 0.05);
  const auto on = [](const auto& ls, double l) {
    return std::count_if(ls.begin(), ls.end(), [&](const auto& c) { return c.level == l; });
  };
  for (double l : {0.6, 1.1, 1.6, 2.1}) BOOST_TEST(on(labels, l) >= 1, "level " << l << " has no label");
  BOOST_TEST(on(labels, 2.6) == 0);
  BOOST_TEST(labels.size() > levels.size());
  // A steep wall: z = exp(10 x) puts 19 levels (100 to 1000) on parallel lines within 0.12 of the
  // x span. Labels stay apart, so the wall holds fewer labels than it has levels.
  grid2d w = bowl(51, 51);
  for (basin::index_t i = 0; i < w.nx(); ++i)
    for (basin::index_t j = 0; j < w.ny(); ++j) w.z[std::size_t(i * w.ny() + j)] = std::exp(10 * w.x[std::size_t(i)]);
  std::vector<double> many;
  for (int k = 0; k < 19; ++k) many.push_back(100 + 50 * k);
  const auto crowded = contour_labels(w, many, false);
  check_labels(w, crowded, 0.12, 3, 0.05);
  BOOST_TEST(crowded.size() >= 4u);
  BOOST_TEST(crowded.size() < many.size());
  // Holes (NaN; with log_z also values <= 0) break the lines: no label comes from an edge that
  // touches one. A level the data never reaches gets none.
  grid2d h = bowl(41, 33);
  for (basin::index_t j = 0; j < h.ny(); ++j) h.z[std::size_t(20 * h.ny() + j)] = (j % 2) ? NAN : -1.0;
  for (const bool log_z : {false, true}) {
    const auto holes = contour_labels(h, {1.1, 50.0}, log_z);
    check_labels(h, holes, 0.12, 3, 0.05);
    BOOST_TEST(!holes.empty());
    for (const auto& c : holes) {
      BOOST_TEST(c.level == 1.1);
      BOOST_TEST(c.x != h.x[20]);  // every edge along x = 0 touches a NaN
      for (std::size_t j = 0; j < h.y.size(); ++j)
        if (c.y == h.y[j] && c.x > h.x[19] && c.x < h.x[21])  // an edge into the column x = 0: to a -1
          BOOST_TEST((!log_z && j % 2 == 0), "label on an edge to a hole at y = " << c.y);
    }
  }
}
