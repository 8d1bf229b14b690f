// basin/train/progress.hpp — a progress bar with rate, ETA and a running value.
//
// On a terminal: one line redrawn in place, `label [#####.....] 45% 210/469  loss 0.4123
// 980 img/s  ETA 0:41` (`ETA --:--` until some work is done). When stderr is not a terminal
// (CI, logs): a plain line at each tenth of the work and one at the end, so logs stay short.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

namespace basin {

class progress {
 public:
  // total: work units (e.g. batches); unit_name/items_per_unit turn the rate into items per second.
  progress(std::string label, long total, std::string item_name = "items", bool enabled = true)
      : label_(std::move(label)), item_(std::move(item_name)), total_(total), enabled_(enabled),
        tty_(isatty(fileno(stderr)) != 0), start_(clock::now()) {}

  // Marks `done` units finished (a fraction counts: a sweep's block of points part-way through
  // its data), `items` items processed so far in total; value is shown as `value_name value`
  // when value_name is not empty. The end (done >= total) is drawn once.
  void update(double done, double items, const std::string& value_name = "", double value = 0) {
    if (!enabled_ || ended_) return;
    const double secs = seconds();
    const bool last = done >= double(total_);
    const double frac = total_ > 0 ? std::clamp(done / double(total_), 0.0, 1.0) : 1.0;
    if (tty_) {
      if (!last && secs - last_draw_ < 0.1) return;
    } else {
      const int tenth = int(frac * 10);
      if (!last && tenth == last_tenth_) return;
      last_tenth_ = tenth;
    }
    last_draw_ = secs;
    ended_ = last;
    const double rate = secs > 0 ? items / secs : 0;
    char bar[31];
    const int filled = int(frac * 30);
    for (int i = 0; i < 30; ++i) bar[i] = i < filled ? '#' : '.';
    bar[30] = 0;
    std::string v = value_name.empty() ? std::string() : "  " + value_name + " " + fmt(value, "%.4f");
    const std::string r = fmt(rate, rate < 10 ? "%.2g" : "%.0f");  // "0.31 points/s" for slow work
    const std::string when = last ? clock_text(secs) : frac > 0 ? clock_text(secs * (1 - frac) / frac) : "--:--";
    std::fprintf(stderr, "%s%s [%s] %3d%% %ld/%ld%s  %s %s/s  %s %s%s", tty_ ? "\r" : "", label_.c_str(), bar,
                 int(frac * 100), long(done), total_, v.c_str(), r.c_str(), item_.c_str(), last ? "took" : "ETA",
                 when.c_str(), tty_ ? (last ? "\033[K\n" : "\033[K") : "\n");
    std::fflush(stderr);
  }
  double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

 private:
  using clock = std::chrono::steady_clock;
  static std::string fmt(double v, const char* f) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return b;
  }
  static std::string clock_text(double s) {
    const long t = long(s + 0.5);
    char b[32];
    if (t >= 3600)
      std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
      std::snprintf(b, sizeof b, "%ld:%02ld", t / 60, t % 60);
    return b;
  }
  std::string label_, item_;
  long total_;
  bool enabled_, tty_, ended_ = false;
  clock::time_point start_;
  double last_draw_ = -1;
  int last_tenth_ = -1;
};

}  // namespace basin
