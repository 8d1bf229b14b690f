// basin/plot/gnuplot.hpp — running gnuplot on a script that basin wrote, and the house style.
//
// Every picture is made the same way: basin writes <stem>.dat (the numbers) and <stem>.gp (a
// gnuplot script that reads <stem>.dat by its bare name and writes <stem>.png and, when asked,
// <stem>.svg), then runs gnuplot on the script inside the script's folder. The script and the
// data stay beside the picture, so a user can restyle it and run `gnuplot <stem>.gp` in that
// folder, or call plot::render(path_to_gp) again.
//
// The gnuplot program is $BASIN_GNUPLOT when that is set and not empty, else `gnuplot` on the
// PATH; it needs the pngcairo and svg terminals (gnuplot >= 5.0; tested with 5.4). POSIX only
// (popen / pclose and a POSIX shell).
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/plot/grid.hpp"

namespace basin::plot {

// The gnuplot program render() runs: $BASIN_GNUPLOT when set and not empty, else "gnuplot".
inline std::string gnuplot_program() {
  const char* env = std::getenv("BASIN_GNUPLOT");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string("gnuplot");
}

namespace detail {

// 'text' for a POSIX shell: single quotes, each ' written as '\''.
inline std::string sh_quote(std::string_view s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

// The length of the well-formed UTF-8 sequence at s[i] (1 to 4), or 0 when s[i] starts none (no
// overlong forms, surrogates or code points past U+10FFFF).
inline std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  const std::size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90))
    return 0;
  return len;
}

// 'text' for gnuplot: a single-quoted string (each ' doubled), in which gnuplot runs no
// `command` in backquotes (it would in a double-quoted one) and leaves \ alone; a newline joins
// two such strings with "\n" ('a'."\n".'b', a string expression wherever gnuplot takes a string),
// tabs become spaces, other control characters are dropped. Terminals run `noenhanced`, so _ ^ { }
// @ & stay literal characters. The scripts run `set encoding utf8`: a byte that does not belong
// to a well-formed UTF-8 sequence (a Latin-1 label, a cut one) becomes U+FFFD, so that the SVG
// stays well-formed XML (browsers refuse to show one that is not).
inline std::string gp_string(std::string_view s) {
  std::string r = "'";
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = utf8_length(s, i);
      if (len > 0) {
        r.append(s.substr(i, len));
        i += len;
      } else {
        r += "\xEF\xBF\xBD";
        ++i;
      }
      continue;
    }
    if (c == '\'')
      r += "''";
    else if (c == '\n')
      r += "'.\"\\n\".'";
    else if (c == '\t')
      r += ' ';
    else if (c >= 0x20 && c != 0x7F)
      r += char(c);
    ++i;
  }
  return r + "'";
}

// A file of the script's folder (the scripts run there): './name', so that a name starting with
// < or | is a file to gnuplot, not a command to read from or write to.
inline std::string gp_file(std::string_view name) {
  return gp_string("./" + std::string(name));
}

struct run_result {
  int status = -1;     // the exit status, or 128 + signal, or -1 when the shell did not start
  std::string output;  // what the program wrote to stdout and stderr
};

// Runs a shell command, capturing stdout and stderr together.
inline run_result run_shell(const std::string& command) {
  run_result r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int w = ::pclose(p);
  if (w == -1) r.status = -1;
  else if (WIFEXITED(w)) r.status = WEXITSTATUS(w);
  else if (WIFSIGNALED(w)) r.status = 128 + WTERMSIG(w);
  return r;
}

}  // namespace detail

// Whether gnuplot_program() runs (`gnuplot --version` exits 0). Never throws.
inline bool gnuplot_available() {
  try {
    return detail::run_shell(detail::sh_quote(gnuplot_program()) + " --version").status == 0;
  } catch (...) {
    return false;
  }
}

// Runs gnuplot on a script, in the script's folder (the scripts basin writes name their data
// and their outputs relative to it).
// requires: `script` is a gnuplot script.
// ensures: gnuplot ran on it and exited with status 0.
// throws: basin::error naming the script, the program, its exit status and what it printed,
//   when the script is missing, gnuplot is not installed (status 127) or gnuplot fails.
inline void render(const std::filesystem::path& script) {
  std::error_code ec;
  require(std::filesystem::is_regular_file(script, ec), "plot::render: gnuplot script '", script.string(),
          "' does not exist");
  const auto dir = script.has_parent_path() ? script.parent_path() : std::filesystem::path(".");
  const std::string prog = gnuplot_program();
  // (./: gnuplot reads a script named "<cmd" from a pipe, as it does a data file)
  const auto r = detail::run_shell("cd " + detail::sh_quote(dir.string()) + " && " + detail::sh_quote(prog) + " " +
                                   detail::sh_quote("./" + script.filename().string()));
  if (r.status == 0) return;
  if (r.status == 127)
    fail("plot::render: cannot run gnuplot script '", script.string(), "': '", prog,
         "' not found (exit status 127); install gnuplot (5.x with the pngcairo and svg terminals) or point "
         "BASIN_GNUPLOT at it",
         r.output.empty() ? "" : "\n", r.output);
  fail("plot::render: gnuplot script '", script.string(), "' failed: '", prog, "' exited with status ", r.status,
       r.output.empty() ? std::string(" and printed nothing") : ":\n" + r.output);
}

namespace detail {

// The files of one picture: <stem>.dat, <stem>.gp, <stem>.png, <stem>.svg.
struct picture_files {
  std::filesystem::path dat, gp, png, svg;
  std::string base;  // the stem's file name, as the script names its files
};

// ensures: the stem's folder exists.
// throws: basin::error naming `fn` when the stem names no file or its folder cannot be created.
inline picture_files files_for(const std::string& stem, const char* fn) {
  // (the script names its files in gp_string's form, which must be the name itself)
  for (std::size_t i = 0, len = 0; i < stem.size(); i += len) {
    const auto c = static_cast<unsigned char>(stem[i]);
    require(c >= 0x20 && c != 0x7F, fn, ": stem '", one_line(stem), "' contains the control character ", int(c));
    len = utf8_length(stem, i);
    require(len > 0, fn, ": stem '", one_line(stem), "' is not UTF-8 (byte ", i, ")");
  }
  const std::filesystem::path s(stem);
  prepare_parent(s, fn, "stem");
  picture_files f;
  f.base = s.filename().string();
  f.dat = s;
  f.dat += ".dat";
  f.gp = s;
  f.gp += ".gp";
  f.png = s;
  f.png += ".png";
  f.svg = s;
  f.svg += ".svg";
  return f;
}

// Perceptually uniform, colour-blind safe, prints well in grey: matplotlib's viridis, as ten
// evenly spaced stops that gnuplot's palette (and viridis_at) interpolate linearly.
inline constexpr const char* viridis_stops[] = {"#440154", "#482878", "#3e4989", "#31688e", "#26828e",
                                                "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"};
inline std::string viridis_palette() {
  std::string s = "set palette defined (";
  for (int k = 0; k < 10; ++k) s += (k > 0 ? ", " : "") + std::to_string(k) + " '" + viridis_stops[k] + "'";
  return s + ")\n";
}

// The palette's colour at t in [0, 1] (clamped), "#rrggbb".
inline std::string viridis_at(double t) {
  const double x = std::clamp(t, 0.0, 1.0) * 9;
  const int i = std::min(int(x), 8);
  const auto channel = [](const char* hex, int c) { return std::stoi(std::string(hex + 1 + 2 * c, 2), nullptr, 16); };
  char out[8];
  int rgb[3];
  for (int c = 0; c < 3; ++c) {
    const double a = channel(viridis_stops[i], c), b = channel(viridis_stops[i + 1], c);
    rgb[c] = int(std::lround(a + (b - a) * (x - i)));
  }
  std::snprintf(out, sizeof out, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return out;
}

// Line colours for several curves (Tableau 10, matplotlib's default cycle).
inline constexpr const char* line_colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
inline std::string line_colour(std::size_t k) { return line_colours[k % 10]; }

// Tics for a log axis over [lo, hi] (positive): 1-2-5 steps when the range spans at most five
// decades ("(0.1, 0.2, 0.5, 1, 2)"); gnuplot's own tics label only powers of ten, which leaves a
// range such as [0.12, 3.1] with the single label 1. Empty when gnuplot's own tics do.
inline std::vector<double> log_tic_values(double lo, double hi) {
  if (!(lo > 0) || !(hi >= lo) || !std::isfinite(hi)) return {};
  const int d0 = int(std::floor(std::log10(lo))), d1 = int(std::ceil(std::log10(hi)));
  if (d1 - d0 > 5) return {};
  std::vector<double> v;
  for (int d = d0; d <= d1; ++d)
    for (int m : {1, 2, 5}) {
      const double t = m * std::pow(10.0, d);
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) v.push_back(t);
    }
  return v;
}

// The head of every script: what it is, the PNG terminal, the house style and the labels.
inline std::string preamble(const picture_files& f, const style& st, const std::string& what,
                            const std::string& title) {
  require(st.width >= 100 && st.height >= 100 && st.width <= 20000 && st.height <= 20000, "plot::", what,
          ": style.width, style.height must lie in [100, 20000] pixels, got ", st.width, " x ", st.height);
  std::string s;
  s += "# basin::plot::" + what + ": reads " + f.base + ".dat, writes " + f.base + ".png" +
       (st.svg ? " and " + f.base + ".svg" : std::string()) + ".\n";
  s += "# Restyle freely, then run `gnuplot " + f.base + ".gp` in this folder.\n";
  s += "set encoding utf8\n";
  s += "set terminal pngcairo size " + std::to_string(st.width) + "," + std::to_string(st.height) +
       " noenhanced font \"DejaVu Sans,11\" linewidth 1.2 background \"#ffffff\"\n";
  s += "set output " + gp_file(f.base + ".png") + "\n";
  s += "set datafile missing \"NaN\"  # points that were not computed\n";
  s += "set border lw 0.8 lc rgb \"#333333\"\n";
  s += "set title " + gp_string(title) + " font \",13\"\n";
  s += "set style textbox opaque noborder margins 0.5, 0.5\n";
  s += viridis_palette();
  return s;
}

// The tail of every script: the same picture again as SVG when asked.
inline std::string epilogue(const picture_files& f, const style& st) {
  std::string s;
  if (st.svg) {
    s += "\nset terminal svg size " + std::to_string(st.width) + "," + std::to_string(st.height) +
         " dynamic noenhanced font \"DejaVu Sans,11\" linewidth 1.2 background \"#ffffff\"\n";
    s += "set output " + gp_file(f.base + ".svg") + "\n";
    s += "replot\n";
  }
  s += "unset output\n";
  return s;
}

// The tail of a multiplot's script (small multiples): `body`, the commands that drew the PNG, run
// again for the SVG when asked (a multiplot cannot be replotted).
inline std::string epilogue_replaying(const picture_files& f, const style& st, const std::string& body) {
  std::string s;
  if (st.svg)
    s += "\nset terminal svg size " + std::to_string(st.width) + "," + std::to_string(st.height) +
         " dynamic noenhanced font \"DejaVu Sans,11\" linewidth 1.2 background \"#ffffff\"\nset output " +
         gp_file(f.base + ".svg") + "\n" + body;
  s += "unset output\n";
  return s;
}

// Writes the data and the script, runs gnuplot, and checks the pictures exist.
// throws: basin::error from write_text and render, or naming a picture gnuplot did not write.
inline void finish(const picture_files& f, const style& st, const std::string& dat, const std::string& gp,
                   const char* fn) {
  write_text(f.dat, dat, fn);
  write_text(f.gp, gp, fn);
  std::error_code ec;
  std::filesystem::remove(f.png, ec);  // a stale picture must not pass for a fresh one
  if (st.svg) std::filesystem::remove(f.svg, ec);
  render(f.gp);
  require(std::filesystem::file_size(f.png, ec) > 0 && !ec, fn, ": gnuplot ran '", f.gp.string(),
          "' but wrote no '", f.png.string(), "'");
  if (st.svg)
    require(std::filesystem::file_size(f.svg, ec) > 0 && !ec, fn, ": gnuplot ran '", f.gp.string(),
            "' but wrote no '", f.svg.string(), "'");
}

}  // namespace detail
}  // namespace basin::plot
