// basin/net/prune.hpp — a wide net's strongest filters kept in a narrow one.
//
//   model<plain<20, fashion_input, 4>> wide(1);   ... trained ...
//   model<plain<20, fashion_input, 1>> narrow;
//   const prune_report r = prune_filters(wide, narrow);   // then fine-tune narrow
//
// The talk: "it's not effective to build skinny networks and then train them because you get bad
// minimizers ... what people do is you start with a wide network and you train that and then you
// prune the filters and you condense that down to a skinny network". Filter pruning as Li, Kadav,
// Durdanovic, Samet and Graf (ICLR 2017, "Pruning filters for efficient ConvNets") do it: every
// conv keeps the filters (output channels) with the largest L1 norms, sum |W[c, :, :, :]|; the
// batch norm after it keeps the same channels (gamma, beta, running mean and variance), and the
// layer that reads those channels keeps the matching input slices of its weights. The narrow net
// is the same zoo net at a smaller width (plain or resnet, same depth, input, classes and weight
// type), so it trains, sweeps and checkpoints as any other.
//
// Channel groups. A plain net's every conv is its own group. In a residual net the channels of a
// stage's residual stream are added together, so they must be kept alike in every layer that
// writes them: the stem conv (stage 1) or the stage's projection shortcut, and each block's second
// conv; such a group's score is the sum of its writers' scores. (Li et al.'s ResNet experiments
// prune mostly each block's first conv, and where they prune the stream they rank its channels by
// the projection shortcut's filters alone; summing over every writer is this library's choice, so
// that the result is the narrower zoo net.) A block's first conv is its own group.
//
// Criteria (prune_by):
//   l1_norm   Li et al.'s: the filter's L1 norm. With a batch norm after the conv the filter's
//             scale does not change the net's output (the talk's scale invariance), so the norm
//             says how strongly the filter was trained and decayed, not what it contributes;
//   bn_scale  |gamma| of the batch norm after the conv (Liu et al. 2017, "Learning efficient
//             convolutional networks through network slimming"): what a normalized channel
//             contributes;
//   random    a uniformly random subset (from options.seed): the control.
// Ties keep the lower channel; the kept channels keep their order.
//
// Real weights only (weights::real): a quantized net's grid spacing follows its largest weight,
// which pruning may remove, leaving the kept weights off the narrow net's grid.
//
// An optimizer's state is not carried over: fine-tune the narrow net with a fresh optimizer.
// Throws basin::error when a wide tensor that is scored holds a value that is not finite (naming
// it) or when the two nets' tensors do not match as the zoo names them (naming the tensor).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/random.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"

namespace basin {

enum class prune_by { l1_norm, bn_scale, random };

inline const char* to_string(prune_by p) {
  switch (p) {
    case prune_by::l1_norm:
      return "l1_norm";
    case prune_by::bn_scale:
      return "bn_scale";
    case prune_by::random:
      return "random";
  }
  return "?";
}

// "l1_norm", "bn_scale" or "random"; throws basin::error naming `what` (an option) otherwise.
inline prune_by parse_prune_by(const std::string& text, const std::string& what) {
  for (auto p : {prune_by::l1_norm, prune_by::bn_scale, prune_by::random})
    if (text == to_string(p)) return p;
  fail(what, ": expected l1_norm, bn_scale or random, got '", text, "'");
}

struct prune_options {
  prune_by criterion = prune_by::l1_norm;
  std::uint64_t seed = 1;  // prune_by::random only
};

// One group of channels kept alike (see the header comment).
struct pruned_group {
  std::string name;                  // "conv1", "layer2.1.conv1", "layer3 stream", ...
  std::vector<std::string> writers;  // the convs whose filters are the group's channels
  int wide = 0;                      // channels in the wide net
  std::vector<int> kept;             // the wide net's channels kept, in increasing order
  std::vector<double> score;         // every wide channel's score (random: the draw's rank, 0 first)
  // The kept channels' share of the summed score (l1_norm, bn_scale; NaN for random).
  double kept_share = 0;
};

struct prune_report {
  // Plain nets: every conv's group in the net's order; residual nets: each stage's blocks' first
  // convs, then the stage's stream.
  std::vector<pruned_group> groups;
  index_t params_wide = 0, params_narrow = 0;
};

namespace zoo {
// What prune_filters needs to know of a zoo net: plain or resnet, depth, width, and the rest.
template <class Net>
struct cifar_traits {
  static constexpr bool known = false;
};
template <int D, class In, int Wd, int C, class W>
struct cifar_traits<resnet<D, In, Wd, C, W>> {
  static constexpr bool known = true, residual = true;
  static constexpr int depth = D, width = Wd;
  using rest = std::tuple<In, std::integral_constant<int, C>, W>;
};
template <int D, class In, int Wd, int C, class W>
struct cifar_traits<plain<D, In, Wd, C, W>> {
  static constexpr bool known = true, residual = false;
  static constexpr int depth = D, width = Wd;
  using rest = std::tuple<In, std::integral_constant<int, C>, W>;
};
}  // namespace zoo

namespace detail {
struct group_plan {
  std::string name;
  std::vector<std::string> convs, bns, readers;  // module names: writers, their batch norms, the layers reading it
};

// The channel groups of a zoo plain or resnet net of depth 6n + 2 (module names as zoo.hpp's).
inline std::vector<group_plan> cifar_groups(int n, bool residual) {
  std::vector<group_plan> g;
  const auto block = [](int s, int b) { return "layer" + std::to_string(s) + "." + std::to_string(b); };
  if (!residual) {
    g.push_back({"conv1", {"conv1"}, {"bn1"}, {block(1, 0) + ".conv1"}});
    for (int s = 1; s <= 3; ++s)
      for (int b = 0; b < n; ++b) {
        const auto l = block(s, b);
        g.push_back({l + ".conv1", {l + ".conv1"}, {l + ".bn1"}, {l + ".conv2"}});
        const bool last = s == 3 && b == n - 1;
        const auto next = b + 1 < n ? block(s, b + 1) : block(s + 1, 0);
        g.push_back({l + ".conv2", {l + ".conv2"}, {l + ".bn2"}, {last ? std::string("linear") : next + ".conv1"}});
      }
    return g;
  }
  for (int s = 1; s <= 3; ++s) {
    for (int b = 0; b < n; ++b) {
      const auto l = block(s, b);
      g.push_back({l + ".conv1", {l + ".conv1"}, {l + ".bn1"}, {l + ".conv2"}});
    }
    group_plan stream{"layer" + std::to_string(s) + " stream", {}, {}, {}};
    if (s == 1) {
      stream.convs.push_back("conv1");
      stream.bns.push_back("bn1");
    } else {
      stream.convs.push_back(block(s, 0) + ".shortcut.0");
      stream.bns.push_back(block(s, 0) + ".shortcut.1");
    }
    for (int b = 0; b < n; ++b) {
      stream.convs.push_back(block(s, b) + ".conv2");
      stream.bns.push_back(block(s, b) + ".bn2");
      if (b > 0 || s == 1) stream.readers.push_back(block(s, b) + ".conv1");
    }
    if (s < 3) {
      stream.readers.push_back(block(s + 1, 0) + ".conv1");
      stream.readers.push_back(block(s + 1, 0) + ".shortcut.0");
    } else {
      stream.readers.push_back("linear");
    }
    g.push_back(stream);
  }
  return g;
}

// "layer1.0.conv1.weight" -> "layer1.0.conv1"
inline std::string module_of(const std::string& tensor) {
  return tensor.substr(0, tensor.rfind('.'));
}

// dst (narrow extents) <- src (wide extents) at the index maps of each axis (empty: the same index).
template <class T>
void gather_tensor(const T* src, const tensor_desc& ds, T* dst, const tensor_desc& dd,
                   const std::array<const std::vector<int>*, 4>& map) {
  std::array<index_t, 4> ne{1, 1, 1, 1}, we{1, 1, 1, 1};
  for (int a = 0; a < dd.rank; ++a) ne[a] = dd.extent[a], we[a] = ds.extent[a];
  const auto at = [&](int a, index_t i) -> index_t { return map[a] ? (*map[a])[std::size_t(i)] : i; };
  index_t k = 0;
  for (index_t i0 = 0; i0 < ne[0]; ++i0)
    for (index_t i1 = 0; i1 < ne[1]; ++i1)
      for (index_t i2 = 0; i2 < ne[2]; ++i2)
        for (index_t i3 = 0; i3 < ne[3]; ++i3)
          dst[k++] = src[((at(0, i0) * we[1] + at(1, i1)) * we[2] + at(2, i2)) * we[3] + at(3, i3)];
}
}  // namespace detail

// Keeps the wide net's strongest filters (by o.criterion) in `narrow`: every parameter and
// batch-norm statistic of narrow is overwritten with the wide net's values at the kept channels
// (and batches_tracked copied). Wide and Narrow: the same zoo plain or resnet net (depth, input,
// classes, weight type) at two widths, Narrow's no wider. See the header comment.
template <class Narrow, class Wide, class T, class B>
prune_report prune_filters(const model<Wide, T, B>& wide, model<Narrow, T, B>& narrow, const prune_options& o = {}) {
  using tw = zoo::cifar_traits<Wide>;
  using tn = zoo::cifar_traits<Narrow>;
  static_assert(tw::known && tn::known, "prune_filters: both nets must be zoo plain<...> or resnet<...> nets");
  static_assert(
      tw::residual == tn::residual && tw::depth == tn::depth && std::is_same_v<typename tw::rest, typename tn::rest>,
      "prune_filters: the two nets must differ in width only (kind, depth, input, classes, weights)");
  static_assert(tn::width <= tw::width, "prune_filters: the narrow net must not be wider than the wide one");
  static_assert(std::is_same_v<std::tuple_element_t<2, typename tw::rest>, weights::real>,
                "prune_filters: real weights only (a quantized net's grid follows the weights pruning removes)");
  using W = model<Wide, T, B>;
  using N = model<Narrow, T, B>;
  constexpr const char* fn = "prune_filters";

  std::vector<T> wp(std::size_t(W::n_params)), ws(std::size_t(W::n_state));
  B::download(backend::raw(const_cast<W&>(wide).params), W::n_params, wp.data());
  B::download(backend::raw(const_cast<W&>(wide).state), W::n_state, ws.data());
  const auto wnames = W::parameter_names(), wsnames = W::state_names();
  const auto nnames = N::parameter_names(), nsnames = N::state_names();
  std::map<std::string, std::size_t> wparam, wstate;
  for (std::size_t i = 0; i < wnames.size(); ++i) wparam[wnames[i]] = i;
  for (std::size_t i = 0; i < wsnames.size(); ++i) wstate[wsnames[i]] = i;
  const auto wide_param = [&](const std::string& name) -> const tensor_desc& {
    const auto it = wparam.find(name);
    require(it != wparam.end(), fn, ": the wide net ", Wide::name(), " has no tensor '", name, "'");
    return W::param_table[it->second];
  };

  prune_report report;
  report.params_wide = W::n_params;
  report.params_narrow = N::n_params;
  // Which group each module writes (axis 0) and reads (axis 1).
  std::map<std::string, std::size_t> writes, reads;
  const auto plans = detail::cifar_groups((tw::depth - 2) / 6, tw::residual);
  for (std::size_t gi = 0; gi < plans.size(); ++gi) {
    const auto& p = plans[gi];
    pruned_group g;
    g.name = p.name;
    g.writers = p.convs;
    g.wide = wide_param(p.convs[0] + ".weight").filters();
    g.score.assign(std::size_t(g.wide), 0.0);
    for (const auto& m : p.convs) writes[m] = gi;
    for (const auto& m : p.bns) writes[m] = gi;
    for (const auto& m : p.readers) reads[m] = gi;
    if (o.criterion == prune_by::random) {
      // A uniform random permutation (Fisher-Yates on the counter-based generator); score = rank.
      std::vector<int> perm(std::size_t(g.wide));
      std::iota(perm.begin(), perm.end(), 0);
      const counter_rng rng{o.seed, (stream::prune << 32) + std::uint64_t(gi)};
      for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i, std::uint32_t(i))]);
      for (std::size_t r = 0; r < perm.size(); ++r) g.score[std::size_t(perm[r])] = double(perm.size() - r);
    } else {
      const auto& names = o.criterion == prune_by::l1_norm ? p.convs : p.bns;
      for (const auto& m : names) {
        const auto& d = wide_param(m + ".weight");
        require(d.filters() == g.wide, fn, ": tensor '", m, ".weight' of the wide net: expected ", g.wide,
                " filters (group '", g.name, "'), found ", d.filters());
        const index_t per = d.size() / d.filters();
        for (index_t c = 0; c < d.filters(); ++c) {
          double s = 0;
          for (index_t k = 0; k < per; ++k) s += std::fabs(double(wp[std::size_t(d.offset + c * per + k)]));
          require(std::isfinite(s), fn, ": tensor '", m, ".weight' of the wide net ", Wide::name(),
                  " holds a value that is not finite in channel ", c);
          g.score[std::size_t(c)] += s;
        }
      }
    }
    report.groups.push_back(std::move(g));
  }

  // Each group keeps as many channels as the narrow net's writer has filters.
  std::map<std::string, std::size_t> nparam;
  for (std::size_t i = 0; i < nnames.size(); ++i) nparam[nnames[i]] = i;
  for (std::size_t gi = 0; gi < plans.size(); ++gi) {
    auto& g = report.groups[gi];
    const auto it = nparam.find(plans[gi].convs[0] + ".weight");
    require(it != nparam.end(), fn, ": the narrow net ", Narrow::name(), " has no tensor '", plans[gi].convs[0],
            ".weight'");
    const int keep = N::param_table[it->second].filters();
    std::vector<int> order(std::size_t(g.wide));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return g.score[std::size_t(a)] > g.score[std::size_t(b)]; });
    g.kept.assign(order.begin(), order.begin() + keep);
    std::sort(g.kept.begin(), g.kept.end());
    if (o.criterion == prune_by::random) {
      g.kept_share = NAN;
      for (auto& s : g.score) s = double(g.wide) - s;  // the draw's rank, 0 first
    } else {
      double all = 0, kept = 0;
      for (double s : g.score) all += s;
      for (int c : g.kept) kept += g.score[std::size_t(c)];
      g.kept_share = all > 0 ? kept / all : 1.0;
    }
  }

  // Every narrow tensor from the wide one of the same name, gathered at the kept channels.
  const auto copy = [&](const auto& nnames_, const auto& ntable, const std::map<std::string, std::size_t>& wmap,
                        const auto& wtable, const std::vector<T>& src, std::vector<T>& dst) {
    for (std::size_t i = 0; i < nnames_.size(); ++i) {
      const auto& name = nnames_[i];
      const auto it = wmap.find(name);
      require(it != wmap.end(), fn, ": the wide net ", Wide::name(), " has no tensor '", name, "'");
      const tensor_desc& dd = ntable[i];
      const tensor_desc& ds = wtable[it->second];
      require(dd.rank == ds.rank, fn, ": tensor '", name, "' has rank ", ds.rank, " in the wide net, ", dd.rank,
              " in the narrow one");
      const auto module = detail::module_of(name);
      std::array<const std::vector<int>*, 4> map{nullptr, nullptr, nullptr, nullptr};
      if (const auto w = writes.find(module); w != writes.end()) map[0] = &report.groups[w->second].kept;
      // A dense layer's bias is per output, not per input: only weights read their input channels.
      if (const auto r = reads.find(module); r != reads.end() && dd.rank >= 2) map[1] = &report.groups[r->second].kept;
      for (int a = 0; a < dd.rank; ++a) {
        const index_t want = map[a] ? index_t(map[a]->size()) : ds.extent[a];
        require(dd.extent[a] == want, fn, ": tensor '", name, "' axis ", a, ": the narrow net has ", dd.extent[a],
                ", pruning the wide net's ", ds.extent[a], " gives ", want);
      }
      detail::gather_tensor(src.data() + ds.offset, ds, dst.data() + dd.offset, dd, map);
    }
  };
  std::vector<T> np(std::size_t(N::n_params)), ns(std::size_t(N::n_state));
  copy(nnames, N::param_table, wparam, W::param_table, wp, np);
  copy(nsnames, N::state_table, wstate, W::state_table, ws, ns);
  B::upload(np.data(), N::n_params, backend::raw(narrow.params));
  B::upload(ns.data(), N::n_state, backend::raw(narrow.state));
  narrow.batches_tracked = wide.batches_tracked;
  return report;
}

}  // namespace basin
