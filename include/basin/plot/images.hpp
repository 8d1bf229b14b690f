// basin/plot/images.hpp — a grid of images (a GAN's samples, a data set's first images).
//
// image_grid lays n images of shape (c, h, w), c = 1 (grey) or 3 (RGB), out in rows of
// `columns`, one pixel of white between them, values mapped linearly from [lo, hi] to black ..
// white (clipped). It writes <stem>.pgm (grey) or <stem>.ppm (RGB), the exact 8-bit picture that
// any image viewer opens and that needs no gnuplot, then, like the other pictures, <stem>.dat,
// <stem>.gp and <stem>.png (+ <stem>.svg when style.svg) with the title above the grid.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/shape.hpp"
#include "basin/plot/gnuplot.hpp"
#include "basin/plot/grid.hpp"

namespace basin::plot {

// The mosaic of image_grid as 8-bit values: (rows * (h + 1) - 1) x (columns * (w + 1) - 1)
// pixels of c bytes, row-major from the top left; gaps white.
struct mosaic {
  int width = 0, height = 0, channels = 1;
  std::vector<std::uint8_t> pixels;  // (height, width, channels)
};

// requires: shape.c in {1, 3}; images.size() a positive multiple of shape.size(); 1 <= columns;
//   lo < hi, both finite; every value finite.
// throws: basin::error naming `images`, `shape`, `columns` or `lo, hi` and what is wrong.
inline mosaic make_mosaic(const std::vector<float>& images, dims shape, int columns, double lo, double hi) {
  constexpr const char* fn = "plot::image_grid";
  require(shape.c == 1 || shape.c == 3, fn, ": shape: expected 1 (grey) or 3 (RGB) channels, got ", shape.c);
  require(shape.h >= 1 && shape.w >= 1, fn, ": shape: expected positive height and width, got ", shape.h, "x", shape.w);
  const std::size_t size = std::size_t(shape.size());
  require(!images.empty() && images.size() % size == 0, fn, ": images: expected a positive multiple of ", shape.c, "x",
          shape.h, "x", shape.w, " = ", size, " values, got ", images.size());
  require(columns >= 1, fn, ": columns must be at least 1, got ", columns);
  require(std::isfinite(lo) && std::isfinite(hi) && lo < hi, fn, ": lo, hi: expected finite lo < hi, got ", lo, ", ",
          hi);
  for (std::size_t i = 0; i < images.size(); ++i)
    require(std::isfinite(images[i]), fn, ": images: value ", i % size, " of image ", i / size, " is not finite (",
            images[i], ")");
  const int n = int(images.size() / size), cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  mosaic m;
  m.channels = shape.c;
  m.width = cols * (shape.w + 1) - 1;
  m.height = rows * (shape.h + 1) - 1;
  m.pixels.assign(std::size_t(m.width) * std::size_t(m.height) * std::size_t(m.channels), 255);
  for (int k = 0; k < n; ++k) {
    const int y0 = (k / cols) * (shape.h + 1), x0 = (k % cols) * (shape.w + 1);
    for (int c = 0; c < shape.c; ++c)
      for (int y = 0; y < shape.h; ++y)
        for (int x = 0; x < shape.w; ++x) {
          const double v = images[std::size_t(k) * size + std::size_t((c * shape.h + y) * shape.w + x)];
          const double t = std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
          m.pixels[(std::size_t(y0 + y) * std::size_t(m.width) + std::size_t(x0 + x)) * std::size_t(m.channels) +
                   std::size_t(c)] = std::uint8_t(std::lround(255 * t));
        }
  }
  return m;
}

// Writes the grid as <stem>.pgm / <stem>.ppm and as a titled picture (see the file comment).
// Defaults: [lo, hi] = [-1, 1], a tanh generator's range.
// ensures: <stem>.pgm or .ppm, <stem>.dat, <stem>.gp, <stem>.png (and <stem>.svg) written.
// throws: basin::error from make_mosaic or for a style out of range (before writing anything),
//   naming the stem, or gnuplot's failure.
inline void image_grid(const std::vector<float>& images, dims shape, int columns, const std::string& stem,
                       const style& st, double lo = -1, double hi = 1) {
  constexpr const char* fn = "plot::image_grid";
  const mosaic m = make_mosaic(images, shape, columns, lo, hi);
  const auto f = detail::files_for(stem, fn);
  // The script first: the style is checked (preamble) before anything is written.
  std::string s = detail::preamble(f, st, "image_grid", st.title.empty() ? std::string("images") : st.title);
  s += "\nunset xtics\nunset ytics\nunset border\nunset colorbox\nunset key\nset size ratio -1\n";
  s +=
      "set xrange [-0.5:" + std::to_string(m.width) + "-0.5]\nset yrange [" + std::to_string(m.height) + "-0.5:-0.5]\n";
  s += "set palette grey\nset cbrange [0:255]\n";
  s += "plot " + detail::gp_file(f.base + ".dat") +
       (m.channels == 1 ? " using 1:2:3 with image\n" : " using 1:2:3:4:5 with rgbimage\n");
  s += detail::epilogue(f, st);
  {
    std::filesystem::path raw(stem);
    raw += m.channels == 1 ? ".pgm" : ".ppm";
    std::ofstream out(raw, std::ios::binary);
    out << (m.channels == 1 ? "P5\n" : "P6\n") << m.width << ' ' << m.height << "\n255\n";
    out.write(reinterpret_cast<const char*>(m.pixels.data()), std::streamsize(m.pixels.size()));
    require(bool(out.flush()), fn, ": could not write '", raw.string(), "'");
  }
  // The .dat: one line per pixel "x y value" (grey) or "x y r g b", y counted from the top.
  std::string dat = "# basin image_grid: " + std::to_string(m.width) + " x " + std::to_string(m.height) +
                    " pixels, 0..255; columns: x y " + (m.channels == 1 ? "grey" : "r g b") + "\n";
  dat.reserve(dat.size() + m.pixels.size() * 12);
  for (int y = 0; y < m.height; ++y) {
    for (int x = 0; x < m.width; ++x) {
      dat += std::to_string(x) + ' ' + std::to_string(y);
      for (int c = 0; c < m.channels; ++c)
        dat += ' ' + std::to_string(
                         m.pixels[(std::size_t(y) * std::size_t(m.width) + std::size_t(x)) * std::size_t(m.channels) +
                                  std::size_t(c)]);
      dat += '\n';
    }
    dat += '\n';
  }
  detail::finish(f, st, dat, s, fn);
}

}  // namespace basin::plot
