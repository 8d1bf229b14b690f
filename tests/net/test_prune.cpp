// Filter pruning (net/prune.hpp): a wide net whose dropped channels are dead (their batch norms'
// gamma and beta 0 in every layer that writes them) computes exactly what the pruned narrow net
// computes; the kept channels are the strongest by each criterion, against a brute-force ranking;
// every narrow tensor is the wide one's at the kept indices; refusals name what is wrong.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../checks.hpp"
#include "basin/core/random.hpp"
#include "basin/net/prune.hpp"

using namespace basin;

namespace {
using in_t = input<3, 10, 10>;
template <int Wd>
using plain8 = plain<8, in_t, Wd, 10>;
template <int Wd>
using resnet8 = resnet<8, in_t, Wd, 10>;

// A group as the test spells it out (independently of prune.hpp's plan): its (conv, bn) writers.
struct spelled_group {
  std::vector<std::pair<std::string, std::string>> writers;
};
// Depth 8 (one block per stage), written out.
std::vector<spelled_group> plain8_groups() {
  return {{{{"conv1", "bn1"}}},
          {{{"layer1.0.conv1", "layer1.0.bn1"}}},
          {{{"layer1.0.conv2", "layer1.0.bn2"}}},
          {{{"layer2.0.conv1", "layer2.0.bn1"}}},
          {{{"layer2.0.conv2", "layer2.0.bn2"}}},
          {{{"layer3.0.conv1", "layer3.0.bn1"}}},
          {{{"layer3.0.conv2", "layer3.0.bn2"}}}};
}
std::vector<spelled_group> resnet8_groups() {
  return {{{{"layer1.0.conv1", "layer1.0.bn1"}}},
          {{{"conv1", "bn1"}, {"layer1.0.conv2", "layer1.0.bn2"}}},
          {{{"layer2.0.conv1", "layer2.0.bn1"}}},
          {{{"layer2.0.shortcut.0", "layer2.0.shortcut.1"}, {"layer2.0.conv2", "layer2.0.bn2"}}},
          {{{"layer3.0.conv1", "layer3.0.bn1"}}},
          {{{"layer3.0.shortcut.0", "layer3.0.shortcut.1"}, {"layer3.0.conv2", "layer3.0.bn2"}}}};
}
// Depth 14 (two blocks per stage: a block reading the block before it in its stage).
std::vector<spelled_group> plain14_groups() {
  std::vector<spelled_group> g{{{{"conv1", "bn1"}}}};
  for (const char* b : {"layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1"})
    for (const char* c : {".conv1", ".conv2"})
      g.push_back({{{b + std::string(c), b + std::string(c[5] == '1' ? ".bn1" : ".bn2")}}});
  return g;
}
std::vector<spelled_group> resnet14_groups() {
  return {{{{"layer1.0.conv1", "layer1.0.bn1"}}},
          {{{"layer1.1.conv1", "layer1.1.bn1"}}},
          {{{"conv1", "bn1"}, {"layer1.0.conv2", "layer1.0.bn2"}, {"layer1.1.conv2", "layer1.1.bn2"}}},
          {{{"layer2.0.conv1", "layer2.0.bn1"}}},
          {{{"layer2.1.conv1", "layer2.1.bn1"}}},
          {{{"layer2.0.shortcut.0", "layer2.0.shortcut.1"},
            {"layer2.0.conv2", "layer2.0.bn2"},
            {"layer2.1.conv2", "layer2.1.bn2"}}},
          {{{"layer3.0.conv1", "layer3.0.bn1"}}},
          {{{"layer3.1.conv1", "layer3.1.bn1"}}},
          {{{"layer3.0.shortcut.0", "layer3.0.shortcut.1"},
            {"layer3.0.conv2", "layer3.0.bn2"},
            {"layer3.1.conv2", "layer3.1.bn2"}}}};
}

// The report's group with exactly these writers (in any order); fails the test if there is none.
const pruned_group& find_group(const prune_report& r, const spelled_group& g) {
  std::vector<std::string> want;
  for (const auto& w : g.writers) want.push_back(w.first);
  std::sort(want.begin(), want.end());
  for (const auto& q : r.groups) {
    auto have = q.writers;
    std::sort(have.begin(), have.end());
    if (have == want) return q;
  }
  BOOST_FAIL("no group written by " << want.front() << " and " << want.size() - 1 << " more");
  return r.groups.front();
}

template <class M>
const tensor_desc& desc(const std::string& name, bool state = false) {
  const auto names = state ? M::state_names() : M::parameter_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return state ? M::state_table[i] : M::param_table[i];
  BOOST_FAIL("no tensor " << name);
  return M::param_table[0];
}

// Random weights, gamma and beta, running means and variances (var in [0.5, 1.5]).
template <class M>
void randomize(M& m, std::uint64_t seed) {
  const counter_rng rng{seed, 99};
  double* p = backend::raw(m.params);
  for (index_t i = 0; i < M::n_params; ++i) p[i] = rng.normal(std::uint64_t(i)) * 0.3;
  const auto sn = M::state_names();
  double* s = backend::raw(m.state);
  for (std::size_t t = 0; t < sn.size(); ++t) {
    const auto& d = M::state_table[t];
    for (index_t k = 0; k < d.size(); ++k) {
      const double u = rng.uniform(std::uint64_t(M::n_params + d.offset + k));
      s[d.offset + k] = d.kind == param_kind::bn_running_var ? 0.5 + u : u - 0.5;
    }
  }
  m.batches_tracked = 7;
}

// Kills the channels of each group that are not in keep[g] in the wide model: gamma = beta = 0 in
// every writer's batch norm (the channel is 0 after it, whatever the conv computes), and the
// writers' filters of those channels scaled by 1e-3 (so that their L1 norms rank last).
template <class M>
void kill_dropped(M& m, const std::vector<spelled_group>& groups, const std::vector<std::set<int>>& keep) {
  double* p = backend::raw(m.params);
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (const auto& [conv, bn] : groups[g].writers) {
      const auto& w = desc<M>(conv + ".weight");
      const index_t per = w.size() / w.filters();
      for (int c = 0; c < w.filters(); ++c) {
        if (keep[g].count(c)) continue;
        for (index_t k = 0; k < per; ++k) p[w.offset + c * per + k] *= 1e-3;
        p[desc<M>(bn + ".weight").offset + c] = 0;
        p[desc<M>(bn + ".bias").offset + c] = 0;
      }
    }
}

// For each group a random subset of the wide net's channels, as many as the narrow net N has; and
// the wide net with the others dead.
template <class N, class M>
std::vector<std::set<int>> choose(M& m, const std::vector<spelled_group>& groups, std::uint64_t seed) {
  std::vector<std::set<int>> out;
  const counter_rng rng{seed, 7};
  std::uint64_t k = 0;
  for (const auto& g : groups) {
    const int wide = desc<M>(g.writers[0].first + ".weight").filters();
    const int keep = desc<N>(g.writers[0].first + ".weight").filters();
    BOOST_TEST_REQUIRE(keep < wide);
    std::set<int> s;
    while (int(s.size()) < keep) s.insert(int(rng.below(k++, std::uint32_t(wide))));
    out.push_back(s);
  }
  kill_dropped(m, groups, out);
  return out;
}

using basin::test::worse;

template <class A, class B>
double max_rel_diff(A& a, B& b, const std::vector<double>& x, index_t n, mode md) {
  const double* za = a.forward(x.data(), n, md);
  const double* zb = b.forward(x.data(), n, md);
  double worst = 0, scale = 0;
  for (index_t i = 0; i < 10 * n; ++i) scale = worse(scale, std::fabs(za[i]));
  for (index_t i = 0; i < 10 * n; ++i) worst = worse(worst, std::fabs(za[i] - zb[i]));
  return worst / scale;
}

// The dead-channel construction for one kind of net, every criterion but random.
template <class Wide, class Narrow>
void dead_channels_case(const std::vector<spelled_group>& groups) {
  using wm = model<Wide, double, backend::host>;
  using nm = model<Narrow, double, backend::host>;
  for (auto criterion : {prune_by::l1_norm, prune_by::bn_scale}) {
    BOOST_TEST_CONTEXT(Wide::name() << " -> " << Narrow::name() << ", " << to_string(criterion)) {
      wm wide(3);
      randomize(wide, 11);
      const auto keep_sets = choose<nm>(wide, groups, 5);
      nm narrow(4);
      const auto r = prune_filters(wide, narrow, {criterion});
      BOOST_TEST(r.params_wide == wm::n_params);
      BOOST_TEST(r.params_narrow == nm::n_params);
      BOOST_TEST_REQUIRE(r.groups.size() == groups.size());
      for (std::size_t g = 0; g < groups.size(); ++g) {
        const auto& q = find_group(r, groups[g]);
        BOOST_TEST(std::set<int>(q.kept.begin(), q.kept.end()) == keep_sets[g]);
      }
      BOOST_TEST(narrow.batches_tracked == 7);
      const index_t n = 6;
      std::vector<double> x(std::size_t(n * in_t::shape.size()));
      const counter_rng rng{21, 3};
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(i);
      // Eval mode (running statistics) and train mode (the batch's statistics, per channel).
      BOOST_TEST(max_rel_diff(wide, narrow, x, n, mode::eval) < 1e-12);
      BOOST_TEST(max_rel_diff(wide, narrow, x, n, mode::train) < 1e-12);
    }
  }
}
}  // namespace

BOOST_AUTO_TEST_SUITE(prune)

BOOST_AUTO_TEST_CASE(a_wide_net_with_dead_channels_is_its_pruned_net) {
  dead_channels_case<plain8<2>, plain8<1>>(plain8_groups());
  dead_channels_case<resnet8<2>, resnet8<1>>(resnet8_groups());
  dead_channels_case<resnet8<4>, resnet8<2>>(resnet8_groups());  // from width 4 to 2
  dead_channels_case<plain<14, in_t, 2, 10>, plain<14, in_t, 1, 10>>(plain14_groups());
  dead_channels_case<resnet<14, in_t, 2, 10>, resnet<14, in_t, 1, 10>>(resnet14_groups());
  // The net is not changed by a prune to its own width: everything kept, in order.
  model<resnet8<1>, double, backend::host> a(1), b(2);
  randomize(a, 12);
  const auto r = prune_filters(a, b);
  for (const auto& g : r.groups) {
    BOOST_TEST(int(g.kept.size()) == g.wide);
    BOOST_TEST(g.kept_share == 1.0);
  }
  for (index_t i = 0; i < a.n_params; ++i) BOOST_TEST_REQUIRE(backend::raw(a.params)[i] == backend::raw(b.params)[i]);
  for (index_t i = 0; i < a.n_state; ++i) BOOST_TEST_REQUIRE(backend::raw(a.state)[i] == backend::raw(b.state)[i]);
}

BOOST_AUTO_TEST_CASE(kept_channels_rank_first_and_tensors_are_gathered) {
  using wm = model<resnet8<2>, double, backend::host>;
  using nm = model<resnet8<1>, double, backend::host>;
  wm wide(5);
  randomize(wide, 13);
  const double* wp = backend::raw(wide.params);
  const auto groups = resnet8_groups();
  for (auto criterion : {prune_by::l1_norm, prune_by::bn_scale}) {
    nm narrow(6);
    const auto r = prune_filters(wide, narrow, {criterion});
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto& q = find_group(r, groups[g]);
      // Brute force: each channel's summed score over the group's writers, the larger half.
      const int wide_c = desc<wm>(groups[g].writers[0].first + ".weight").filters();
      std::vector<std::pair<double, int>> score;
      for (int c = 0; c < wide_c; ++c) {
        double s = 0;
        for (const auto& [conv, bn] : groups[g].writers) {
          if (criterion == prune_by::bn_scale) {
            s += std::fabs(wp[desc<wm>(bn + ".weight").offset + c]);
            continue;
          }
          const auto& w = desc<wm>(conv + ".weight");
          const index_t per = w.size() / w.filters();
          for (index_t k = 0; k < per; ++k) s += std::fabs(wp[w.offset + c * per + k]);
        }
        score.push_back({-s, c});
        BOOST_TEST(q.score[std::size_t(c)] == s, boost::test_tools::tolerance(1e-12));
      }
      std::sort(score.begin(), score.end());
      std::set<int> top;
      double all = 0, kept = 0;
      for (int k = 0; k < wide_c; ++k) {
        all -= score[std::size_t(k)].first;
        if (k < wide_c / 2) top.insert(score[std::size_t(k)].second), kept -= score[std::size_t(k)].first;
      }
      BOOST_TEST(std::set<int>(q.kept.begin(), q.kept.end()) == top);
      BOOST_TEST(std::is_sorted(q.kept.begin(), q.kept.end()));
      BOOST_TEST(q.kept_share == kept / all, boost::test_tools::tolerance(1e-12));
      BOOST_TEST(q.kept_share > 0.5);  // the stronger half
    }
    // A conv reading one group and writing another, a batch norm's statistics, the classifier.
    const auto& k1 = find_group(r, groups[2]).kept;  // layer2.0.conv1's own channels
    const auto& s1 = find_group(r, groups[1]).kept;  // stage 1's stream, which layer2.0.conv1 reads
    const auto& wd = desc<wm>("layer2.0.conv1.weight");
    const auto& nd = desc<nm>("layer2.0.conv1.weight");
    const double* np = backend::raw(narrow.params);
    for (int o = 0; o < 32; ++o)
      for (int i = 0; i < 16; ++i)
        for (int k = 0; k < 9; ++k)
          BOOST_TEST_REQUIRE(np[nd.offset + (o * 16 + i) * 9 + k] ==
                             wp[wd.offset + (k1[std::size_t(o)] * 32 + s1[std::size_t(i)]) * 9 + k]);
    const auto& s3 = find_group(r, groups[5]).kept;  // stage 3's stream, which the classifier reads
    const auto& wl = desc<wm>("linear.weight");
    const auto& nl = desc<nm>("linear.weight");
    for (int o = 0; o < 10; ++o)
      for (int i = 0; i < 64; ++i)
        BOOST_TEST_REQUIRE(np[nl.offset + o * 64 + i] == wp[wl.offset + o * 128 + s3[std::size_t(i)]]);
    for (int o = 0; o < 10; ++o)
      BOOST_TEST(np[desc<nm>("linear.bias").offset + o] == wp[desc<wm>("linear.bias").offset + o]);
    const auto& wv = desc<wm>("layer3.0.shortcut.1.running_var", true);
    const auto& nv = desc<nm>("layer3.0.shortcut.1.running_var", true);
    for (int c = 0; c < 64; ++c)
      BOOST_TEST(backend::raw(narrow.state)[nv.offset + c] == backend::raw(wide.state)[wv.offset + s3[std::size_t(c)]]);
  }
}

BOOST_AUTO_TEST_CASE(random_pruning_is_seeded_and_uniform) {
  using wm = model<plain8<2>, double, backend::host>;
  using nm = model<plain8<1>, double, backend::host>;
  wm wide(5);
  nm a(1), b(1), c(1);
  const auto ra = prune_filters(wide, a, {prune_by::random, 3});
  const auto rb = prune_filters(wide, b, {prune_by::random, 3});
  const auto rc = prune_filters(wide, c, {prune_by::random, 4});
  bool differs = false;
  for (std::size_t g = 0; g < ra.groups.size(); ++g) {
    BOOST_TEST(ra.groups[g].kept == rb.groups[g].kept);
    BOOST_TEST(ra.groups[g].kept.size() == std::size_t(ra.groups[g].wide / 2));
    BOOST_TEST(std::isnan(ra.groups[g].kept_share));
    differs = differs || ra.groups[g].kept != rc.groups[g].kept;
  }
  BOOST_TEST(differs);
  // Uniform: over 400 seeds, each of the 64 channels of layer2.0.conv1 is kept half the time. The
  // count is Binomial(400, 1/2): standard deviation 10; 5 of them bounds 64 channels' deviations
  // with probability above 1 - 64 * 6e-7. (A draw that favoured low or high channels, e.g.
  // keeping the first half whenever the scores tie, fails it.)
  std::vector<int> kept(64, 0);
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    const auto r = prune_filters(wide, a, {prune_by::random, seed});
    for (int ch : r.groups[3].kept) ++kept[std::size_t(ch)];
  }
  BOOST_TEST_REQUIRE(ra.groups[3].name == "layer2.0.conv1");
  for (int ch = 0; ch < 64; ++ch) BOOST_TEST(std::abs(kept[std::size_t(ch)] - 200) < 50, "channel " << ch);
}

BOOST_AUTO_TEST_CASE(criteria_parse_and_bad_weights_are_refused) {
  BOOST_TEST((parse_prune_by("bn_scale", "--criterion") == prune_by::bn_scale));
  try {
    parse_prune_by("l2", "option --criterion");
    BOOST_FAIL("accepted l2");
  } catch (const basin::error& e) {
    BOOST_TEST(std::string(e.what()) == "option --criterion: expected l1_norm, bn_scale or random, got 'l2'");
  }
  model<plain8<2>, double, backend::host> wide(5);
  model<plain8<1>, double, backend::host> narrow(1);
  backend::raw(wide.params)[desc<decltype(wide)>("layer2.0.conv2.weight").offset + 576 * 7 + 5] =
      NAN;  // filter 7 of 64 x 64 x 3 x 3
  try {
    prune_filters(wide, narrow);
    BOOST_FAIL("accepted a NaN weight");
  } catch (const basin::error& e) {
    BOOST_TEST(std::string(e.what()) ==
               "prune_filters: tensor 'layer2.0.conv2.weight' of the wide net plain8_w2 holds a value that is not "
               "finite in channel 7");
  }
  // Random pruning does not read the weights: the NaN is carried into the narrow net exactly when
  // its filter (7 of layer2.0.conv2) and its input channel (0, layer2.0.conv1's) are both kept.
  bool seen_nan = false, seen_clean = false;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    const auto r = prune_filters(wide, narrow, {prune_by::random, seed});
    BOOST_TEST_REQUIRE(r.groups[3].name == "layer2.0.conv1");
    BOOST_TEST_REQUIRE(r.groups[4].name == "layer2.0.conv2");
    const auto kept = [&](std::size_t g, int c) {
      return std::find(r.groups[g].kept.begin(), r.groups[g].kept.end(), c) != r.groups[g].kept.end();
    };
    const double* np = backend::raw(narrow.params);
    const bool has_nan = std::any_of(np, np + narrow.n_params, [](double v) { return std::isnan(v); });
    BOOST_TEST(has_nan == (kept(4, 7) && kept(3, 0)), "seed " << seed);
    (has_nan ? seen_nan : seen_clean) = true;
  }
  BOOST_TEST(seen_nan);  // both cases among these seeds
  BOOST_TEST(seen_clean);
}

BOOST_AUTO_TEST_SUITE_END()
