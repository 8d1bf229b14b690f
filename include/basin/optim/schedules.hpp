// basin/optim/schedules.hpp — learning-rate schedules, functions of the (fractional) epoch.
#pragma once

#include <cmath>
#include <vector>

#include "basin/core/error.hpp"

namespace basin::optim {

struct constant_lr {
  double lr = 0.1;
  double operator()(double) const { return lr; }
};

// lr * gamma^(number of milestones <= epoch), as PyTorch's MultiStepLR stepped per epoch.
struct step_lr {
  double lr = 0.1;
  std::vector<int> milestones;
  double gamma = 0.1;
  double operator()(double epoch) const {
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
    const double x = std::fmin(std::fmax(epoch / epochs, 0.0), 1.0);
    return min_lr + (lr - min_lr) * 0.5 * (1 + std::cos(3.14159265358979323846 * x));
  }
};

}  // namespace basin::optim
