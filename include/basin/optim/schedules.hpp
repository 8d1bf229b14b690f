// basin/optim/schedules.hpp — learning-rate schedules, functions of the (fractional) epoch.
// Every call checks the schedule's settings and the epoch and throws basin::error naming the one
// out of range (a negative or non-finite rate would otherwise surface mid-run as the optimizer's
// refusal of a learning rate, naming neither).
#pragma once

#include <cmath>
#include <vector>

#include "basin/core/error.hpp"

namespace basin::optim {

namespace detail {
inline void check_rate(const char* schedule, const char* name, double v) {
  require(std::isfinite(v) && v >= 0, schedule, ": ", name, " must be finite and >= 0, got ", v);
}
inline void check_epoch(const char* schedule, double epoch) {
  require(std::isfinite(epoch), schedule, ": the epoch must be finite, got ", epoch);
}
}  // namespace detail

struct constant_lr {
  double lr = 0.1;
  double operator()(double) const {
    detail::check_rate("constant_lr", "lr", lr);
    return lr;
  }
};

// lr * gamma^(number of milestones <= epoch), as PyTorch's MultiStepLR stepped per epoch.
struct step_lr {
  double lr = 0.1;
  std::vector<int> milestones;
  double gamma = 0.1;
  double operator()(double epoch) const {
    detail::check_rate("step_lr", "lr", lr);
    require(std::isfinite(gamma) && gamma > 0, "step_lr: gamma must be finite and > 0, got ", gamma);
    detail::check_epoch("step_lr", epoch);
    double r = lr;
    for (int m : milestones)
      if (std::floor(epoch) >= m) r *= gamma;
    return r;
  }
};

// Cosine annealing from lr to min_lr over `epochs` (Loshchilov, Hutter 2017, eq. 5, no restarts),
// evaluated at every step.
struct cosine_lr {
  double lr = 0.1;
  double epochs = 1;
  double min_lr = 0;
  double operator()(double epoch) const {
    require(epochs > 0 && std::isfinite(epochs), "cosine_lr: epochs must be finite and > 0, got ", epochs);
    detail::check_rate("cosine_lr", "lr", lr);
    detail::check_rate("cosine_lr", "min_lr", min_lr);
    detail::check_epoch("cosine_lr", epoch);
    const double x = std::fmin(std::fmax(epoch / epochs, 0.0), 1.0);
    return min_lr + (lr - min_lr) * 0.5 * (1 + std::cos(3.14159265358979323846 * x));
  }
};

}  // namespace basin::optim
