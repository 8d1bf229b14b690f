// basin/io/export.hpp — a loss surface for other tools: VTK for ParaView, CSV for everything else.
//
// write_vtk plays the part of the reference tool's h52vtp.py (Li et al. 2018, github.com/
// tomgoldstein/loss-landscape), which turns a surface into a .vtp that ParaView renders; basin
// writes the legacy ASCII format instead (ParaView, VisIt and the VTK readers open it) with the
// same geometry and the same optional clipping and log.
#pragma once

#include <cctype>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/plot/grid.hpp"

namespace basin {

// Writes the surface as a legacy ASCII VTK file (".vtk"), DATASET POLYDATA:
//   # vtk DataFile Version 3.0
//   basin surface <name> (nx x ny, log = 0|1, clip_max = <c>)
//   ASCII
//   DATASET POLYDATA
//   POINTS <n> double          one point (x[i], y[j], h) per grid point whose h is finite, in
//                              the order of grid2d::z (i over x outer, j over y inner)
//   POLYGONS <m> <5m>          one quad "4 a b c d" per grid cell whose four corners are points,
//                              corners (i,j) (i+1,j) (i+1,j+1) (i,j+1): normals point up (+z);
//                              left out when no cell is whole (VTK reads "POLYGONS 0 0" as broken)
//   POINT_DATA <n>             (left out when no point is)
//   SCALARS <name> double 1    h again, for colouring; <name> is g.name with characters other
//   LOOKUP_TABLE default       than [A-Za-z0-9_-] replaced by '_' ("value" when empty), at most
//                              255 of them (VTK's limit)
// where h is the value after h52vtp's transforms, in its order: first clipping, v > clip_max
// becomes clip_max; then, when `log`, h = ln(v + 0.1) (h52vtp's np.log(z + 0.1), which keeps a
// zero loss finite). Points whose h is not finite (not computed, -inf, or v + 0.1 <= 0 under
// log) are left out with the cells around them, so no NaN reaches the file.
// requires: g has at least 2x2 points, z.size() == nx*ny, finite strictly increasing
//   coordinates (values may all be NaN: the file then holds no points); clip_max not NaN or -inf.
// ensures: `path` holds the file (its folder created when missing).
// throws: basin::error naming write_vtk and the argument (grid, clip_max, path) or the file.
inline void write_vtk(const plot::grid2d& g, const std::string& path, bool log = false, double clip_max = INFINITY) {
  constexpr const char* fn = "write_vtk";
  plot::detail::check_grid(g, fn, false);
  require(!std::isnan(clip_max) && clip_max > -INFINITY, fn, ": clip_max is ", clip_max,
          ", expected a number or INFINITY (no clipping); -inf would drop every point");
  plot::detail::prepare_parent(path, fn, "path");

  std::string name = g.name.empty() ? std::string("value") : g.name;
  for (char& c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) c = '_';
  if (name.size() > 255) name.resize(255);  // VTK's reader refuses longer array names
  const index_t nx = g.nx(), ny = g.ny();
  std::vector<double> h(g.z.size());              // (nx, ny)
  std::vector<index_t> id(g.z.size(), -1);        // (nx, ny): point number, -1 when left out
  index_t n = 0;
  for (std::size_t k = 0; k < g.z.size(); ++k) {
    double v = g.z[k];
    if (v > clip_max) v = clip_max;
    if (log) v = v + 0.1 > 0 ? std::log(v + 0.1) : NAN;
    h[k] = v;
    if (std::isfinite(v)) id[k] = n++;
  }
  std::string s;
  s += "# vtk DataFile Version 3.0\n";
  s += "basin surface " + name + " (" + std::to_string(nx) + " x " + std::to_string(ny) +
       ", log = " + (log ? "1" : "0") + ", clip_max = " + plot::detail::number(clip_max) + ")\n";
  s += "ASCII\nDATASET POLYDATA\n";
  s += "POINTS " + std::to_string(n) + " double\n";
  for (index_t i = 0; i < nx; ++i)
    for (index_t j = 0; j < ny; ++j) {
      const auto k = std::size_t(i * ny + j);
      if (id[k] < 0) continue;
      s += plot::detail::number(g.x[std::size_t(i)]) + ' ' + plot::detail::number(g.y[std::size_t(j)]) + ' ' +
           plot::detail::number(h[k]) + '\n';
    }
  std::string polys;
  index_t m = 0;
  for (index_t i = 0; i + 1 < nx; ++i)
    for (index_t j = 0; j + 1 < ny; ++j) {
      const index_t a = id[std::size_t(i * ny + j)], b = id[std::size_t((i + 1) * ny + j)],
                    c = id[std::size_t((i + 1) * ny + j + 1)], d = id[std::size_t(i * ny + j + 1)];
      if (a < 0 || b < 0 || c < 0 || d < 0) continue;
      polys += "4 " + std::to_string(a) + ' ' + std::to_string(b) + ' ' + std::to_string(c) + ' ' +
               std::to_string(d) + '\n';
      ++m;
    }
  // (VTK's reader takes "POLYGONS 0 0" or "POINT_DATA 0" for a broken file and stops there)
  if (m > 0) s += "POLYGONS " + std::to_string(m) + ' ' + std::to_string(5 * m) + '\n' + polys;
  if (n > 0) s += "POINT_DATA " + std::to_string(n) + "\nSCALARS " + name + " double 1\nLOOKUP_TABLE default\n";
  for (std::size_t k = 0; k < h.size(); ++k)
    if (id[k] >= 0) s += plot::detail::number(h[k]) + '\n';
  plot::detail::write_text(path, s, fn);
}

// Writes the surface as CSV: a header "x,y,<name>" (<name> = g.name, "value" when empty, quoted
// as RFC 4180 asks when it holds a comma, quote or newline), then one row "x,y,value" per grid
// point in the order of grid2d::z (i over x outer, j over y inner). Numbers are the shortest text
// that reads back to the same double; a point not computed is written "nan", infinities "inf"
// and "-inf" (std::strtod, numpy.genfromtxt, pandas.read_csv and spreadsheets read all three).
// requires: g has at least 2x2 points, z.size() == nx*ny, finite strictly increasing coordinates.
// ensures: `path` holds nx*ny + 1 lines (its folder created when missing).
// throws: basin::error naming write_csv and the argument (grid, path) or the file.
inline void write_csv(const plot::grid2d& g, const std::string& path) {
  constexpr const char* fn = "write_csv";
  plot::detail::check_grid(g, fn, false);
  plot::detail::prepare_parent(path, fn, "path");
  std::string name = g.name.empty() ? std::string("value") : g.name;
  if (name.find_first_of(",\"\r\n") != std::string::npos) {
    std::string q = "\"";
    for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    name = q + "\"";
  }
  std::string s = "x,y," + name + "\n";
  for (index_t i = 0; i < g.nx(); ++i)
    for (index_t j = 0; j < g.ny(); ++j)
      s += plot::detail::number(g.x[std::size_t(i)]) + ',' + plot::detail::number(g.y[std::size_t(j)]) + ',' +
           plot::detail::number(g.at(i, j), "nan") + '\n';
  plot::detail::write_text(path, s, fn);
}

}  // namespace basin
