// Training checkpoints and train_resumable: a run stopped after an epoch and resumed ends in the
// same bits as one that never stopped (SGD with Nesterov momentum, Adam, quantized SR and
// BinaryConnect); a model-only resume does not (the check can fail); files of another run,
// optimizer or architecture, and malformed optimizer groups, are refused by name; a run killed by
// SIGKILL resumes from its files alike.
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "../killed.hpp"
#include "../random_data.hpp"
#include "basin/backend/host.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/net/model.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/quantized.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/train/resume.hpp"

using namespace basin;
namespace fs = std::filesystem;

namespace {
using tiny = network<input<1, 8, 8>, conv<4, 3>, batch_norm, relu, conv<6, 3, 2, 1>, batch_norm, relu, global_avg_pool,
                     dense<10>>;
using tiny_binary = network<input<1, 8, 8>, conv<4, 3, 1, 1, false, weights::binary>, batch_norm, relu, global_avg_pool,
                            dense<10, true, weights::binary>>;
using tiny_other = network<input<1, 8, 8>, conv<5, 3>, batch_norm, relu, global_avg_pool, dense<10>>;

struct scratch {
  fs::path dir;
  scratch() {
    dir = fs::temp_directory_path() / ("basin_resume_" + std::to_string(::getpid()) + "_" +
                                       boost::unit_test::framework::current_test_case().p_name.get());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~scratch() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  std::string file(int e) const { return (dir / ("epoch_" + std::to_string(e) + ".h5")).string(); }
};

// Every parameter and statistic, as bits.
template <class M>
std::vector<float> values(const M& m) {
  std::vector<float> v(m.params.begin(), m.params.end());
  v.insert(v.end(), m.state.begin(), m.state.end());
  return v;
}
std::size_t differing(const std::vector<float>& a, const std::vector<float>& b) {
  BOOST_TEST_REQUIRE(a.size() == b.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return n;
}
template <class T>
std::size_t differing_state(const optim::optimizer_state<T>& a, const optim::optimizer_state<T>& b) {
  BOOST_TEST_REQUIRE(a.slots.size() == b.slots.size());
  std::size_t n = a.steps != b.steps;
  for (std::size_t k = 0; k < a.slots.size(); ++k) n += differing(a.slots[k].second, b.slots[k].second);
  return n;
}

train_options options(int epochs) {
  train_options o;
  o.epochs = epochs;
  o.batch_size = 32;
  o.seed = 9;
  o.progress = false;
  return o;
}

struct stop_here {};

// Trains `epochs` straight, then again in a fresh model and optimizer stopped (by an exception)
// after epoch `stop` and resumed in another fresh pair; returns the differing values.
template <class M, class MakeOpt>
std::pair<std::size_t, std::size_t> stopped_and_resumed(MakeOpt make, int epochs, int stop) {
  const auto data = test::random_dataset(M::in, 200, 4);
  const optim::cosine_lr lr{0.05, double(epochs)};
  M straight(3);
  auto o1 = make(straight);
  train(straight, o1.bind(straight), lr, data, options(epochs));

  scratch s;
  const resume_options r{[&](int e) { return s.file(e); }, "test recipe", true, false};
  {
    M first(3);
    auto o2 = make(first);
    BOOST_CHECK_THROW(train_resumable(first, o2.bind(first), lr, data, options(epochs), r, nullptr,
                                      [&](const epoch_record& rec) {
                                        if (rec.epoch == stop) throw stop_here{};
                                      }),
                      stop_here);
  }
  M resumed(77);  // another initialization: everything must come from the file
  auto o3 = make(resumed);
  const auto run = train_resumable(resumed, o3.bind(resumed), lr, data, options(epochs), r);
  BOOST_TEST(run.resumed_after == stop);
  BOOST_TEST(run.optimizer_restored);
  BOOST_TEST(run.history.size() == std::size_t(epochs - stop));
  BOOST_TEST(fs::exists(s.file(epochs)));
  return {differing(values(straight), values(resumed)), differing_state(o1.save_state(), o3.save_state())};
}

// A plain optimizer in the form the helper above binds.
template <class P>
struct plain {
  optim::optimizer<P, float, backend::host> o;
  plain(P p, index_t n) : o(p, n) {}
  template <class M>
  optim::optimizer<P, float, backend::host>& bind(M&) {
    return o;
  }
  optim::optimizer_state<float> save_state() const { return o.save_state(); }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(resume)

BOOST_AUTO_TEST_CASE(sgd_resumes_in_the_same_bits) {
  using M = model<tiny, float, backend::host>;
  const auto [params, state] = stopped_and_resumed<M>(
      [](M&) {
        return plain<optim::sgd>(optim::sgd{0.9, 5e-4, true}, M::n_params);
      },
      3, 2);
  BOOST_TEST(params == 0u, params << " parameters or statistics differ from the uninterrupted run");
  BOOST_TEST(state == 0u, state << " momentum values differ");
}

// A real kill: a child process trains and dies by SIGKILL just after epoch 2's checkpoint (no
// unwinding, no destructors, no file closed by the exception); the parent resumes from its files.
BOOST_AUTO_TEST_CASE(a_run_killed_by_sigkill_resumes_in_the_same_bits) {
  using M = model<tiny, float, backend::host>;
  // One thread for every run here: the child has only the thread that forked it.
  struct one_thread {
    int before = omp_get_max_threads();
    one_thread() { omp_set_num_threads(1); }
    ~one_thread() { omp_set_num_threads(before); }
  } guard;
  const auto data = test::random_dataset(M::in, 200, 4);
  const optim::cosine_lr lr{0.05, 3.0};
  const optim::sgd rule{0.9, 5e-4, true};
  M straight(3);
  plain<optim::sgd> o1(rule, M::n_params);
  train(straight, o1.bind(straight), lr, data, options(3));
  scratch s;
  const resume_options r{[&](int e) { return s.file(e); }, "test recipe", true, false};
  BOOST_TEST_REQUIRE(test::dies_by_sigkill([&] {
    M first(3);
    plain<optim::sgd> o2(rule, M::n_params);
    train_resumable(first, o2.bind(first), lr, data, options(3), r, nullptr, [](const epoch_record& rec) {
      if (rec.epoch == 2) ::raise(SIGKILL);
    });
  }));
  BOOST_TEST(fs::exists(s.file(2)));
  BOOST_TEST(!fs::exists(s.file(3)));
  M resumed(77);
  plain<optim::sgd> o3(rule, M::n_params);
  const auto run = train_resumable(resumed, o3.bind(resumed), lr, data, options(3), r);
  BOOST_TEST(run.resumed_after == 2);
  BOOST_TEST(differing(values(straight), values(resumed)) == 0u);
  BOOST_TEST(differing_state(o1.save_state(), o3.save_state()) == 0u);
}

BOOST_AUTO_TEST_CASE(adam_resumes_in_the_same_bits) {
  using M = model<tiny, float, backend::host>;
  const auto [params, state] = stopped_and_resumed<M>(
      [](M&) {
        return plain<optim::adam>(optim::adam{0.9, 0.99, 1e-8, 1e-4}, M::n_params);
      },
      3, 1);
  BOOST_TEST(params == 0u);
  BOOST_TEST(state == 0u);
}

// Stochastic rounding (4-bit grids from the initial weights: a fresh optimizer on another
// initialization derives other grids, which the file's replace) and BinaryConnect on a net of
// binary weight types (shadow weights, the layers' grids).
BOOST_AUTO_TEST_CASE(quantized_optimizers_resume_in_the_same_bits) {
  {
    using M = model<tiny, float, backend::host>;
    using Q = optim::quantized_optimizer<M, optim::sgd>;
    const auto [params, state] = stopped_and_resumed<M>(
        [](M& m) {
          return Q(m, optim::sgd{0.9, 0, false}, {optim::rounding::stochastic, 4, 0.0, 11});
        },
        3, 2);
    BOOST_TEST(params == 0u, "SR: " << params << " values differ");
    BOOST_TEST(state == 0u);
  }
  {
    using M = model<tiny_binary, float, backend::host>;
    using Q = optim::quantized_optimizer<M, optim::adam>;
    const auto [params, state] = stopped_and_resumed<M>(
        [](M& m) {
          return Q(m, optim::adam{}, {optim::rounding::binary_connect, 1, 0.0, 0});
        },
        3, 1);
    BOOST_TEST(params == 0u, "BC: " << params << " values differ");
    BOOST_TEST(state == 0u, "BC: " << state << " optimizer values (moments, shadow weights) differ");
  }
}

// The control: resuming the model alone (momentum from zero, the old behaviour) ends elsewhere,
// so the checks above can fail.
BOOST_AUTO_TEST_CASE(a_model_only_resume_differs) {
  using M = model<tiny, float, backend::host>;
  const auto data = test::random_dataset(M::in, 200, 4);
  const optim::cosine_lr lr{0.05, 3.0};
  M straight(3);
  optim::optimizer<optim::sgd, float, backend::host> o1({0.9, 5e-4, true}, M::n_params);
  train(straight, o1, lr, data, options(3));

  scratch s;
  M first(3);
  optim::optimizer<optim::sgd, float, backend::host> o2({0.9, 5e-4, true}, M::n_params);
  train(first, o2, lr, data, options(2));
  save_checkpoint(first, s.file(2), 2);  // no optimizer state
  M resumed(3);
  optim::optimizer<optim::sgd, float, backend::host> o3({0.9, 5e-4, true}, M::n_params);
  const auto run =
      train_resumable(resumed, o3, lr, data, options(3), {[&](int e) { return s.file(e); }, "", true, false});
  BOOST_TEST(run.resumed_after == 2);
  BOOST_TEST(!run.optimizer_restored);
  BOOST_TEST(differing(values(straight), values(resumed)) > values(straight).size() / 2);
}

BOOST_AUTO_TEST_CASE(a_finished_run_trains_nothing_and_old_epochs_can_go) {
  using M = model<tiny, float, backend::host>;
  const auto data = test::random_dataset(M::in, 100, 5);
  scratch s;
  const resume_options r{[&](int e) { return s.file(e); }, "", false, false};
  M a(1);
  optim::optimizer<optim::sgd, float, backend::host> oa({}, M::n_params);
  const auto first = train_resumable(a, oa, optim::constant_lr{0.01}, data, options(2), r);
  BOOST_TEST(first.history.size() == 2u);
  BOOST_TEST(!fs::exists(s.file(1)));  // keep_epochs = false
  M b(2);
  optim::optimizer<optim::sgd, float, backend::host> ob({}, M::n_params);
  const auto again = train_resumable(b, ob, optim::constant_lr{0.01}, data, options(2), r);
  BOOST_TEST(again.resumed_after == 2);
  BOOST_TEST(again.history.empty());
  BOOST_TEST(differing(values(a), values(b)) == 0u);
  BOOST_TEST(ob.steps() == oa.steps());
}

// One name for every epoch ("latest.h5"): the file holds the last epoch written, is never
// removed as the previous epoch's (keep_epochs false), and a rerun resumes from it; the test set
// is evaluated after each epoch is written, and its results come back in the history.
BOOST_AUTO_TEST_CASE(one_rolling_checkpoint_name) {
  using M = model<tiny, float, backend::host>;
  const auto data = test::random_dataset(M::in, 100, 5), test_set = test::random_dataset(M::in, 40, 6);
  scratch s;
  for (bool keep : {false, true}) {
    const auto latest = s.file(100 + int(keep));
    const resume_options r{[&](int) { return latest; }, "", keep, false};
    M a(1);
    optim::optimizer<optim::sgd, float, backend::host> oa({}, M::n_params);
    BOOST_CHECK_THROW(train_resumable(a, oa, optim::constant_lr{0.01}, data, options(3), r, &test_set,
                                      [&](const epoch_record& rec) {
                                        BOOST_TEST(fs::exists(latest));  // written before this hook
                                        if (rec.epoch == 2) throw stop_here{};
                                      }),
                      stop_here);
    BOOST_TEST(read_checkpoint_info(latest).epoch == 2);
    M b(2);
    optim::optimizer<optim::sgd, float, backend::host> ob({}, M::n_params);
    const auto run = train_resumable(b, ob, optim::constant_lr{0.01}, data, options(3), r, &test_set);
    BOOST_TEST(run.resumed_after == 2);
    BOOST_REQUIRE(run.history.size() == 1u);
    BOOST_TEST(run.history[0].test.loss > 0.0);  // evaluated, not left at its default
    {  // and of the trained model (the record is of the epoch's end, which is the run's end)
      const auto again = evaluate(b, test_set);
      BOOST_TEST(run.history[0].test.accuracy == again.accuracy);
      BOOST_TEST(run.history[0].test.loss == again.loss, boost::test_tools::tolerance(1e-6));
    }
    BOOST_TEST(read_checkpoint_info(latest).epoch == 3);
    M c(1);
    optim::optimizer<optim::sgd, float, backend::host> oc({}, M::n_params);
    train(c, oc, optim::constant_lr{0.01}, data, options(3));
    BOOST_TEST(differing(values(b), values(c)) == 0u);  // the same bits as a run that never stopped
  }
}

// A label out of range is refused before any work, naming the set and the image (it stopped the
// loss mid-epoch, or after the epoch's training in the test evaluation, unsaved).
BOOST_AUTO_TEST_CASE(labels_out_of_range_are_refused_before_training) {
  using M = model<tiny, float, backend::host>;
  auto data = test::random_dataset(M::in, 100, 5), test_set = test::random_dataset(M::in, 40, 6);
  test_set.labels[39] = test_set.classes;
  scratch s;
  const resume_options r{[&](int e) { return s.file(e); }, "", true, false};
  M m(1);
  optim::optimizer<optim::sgd, float, backend::host> o({}, M::n_params);
  const auto says_label = [&](const char* who) {
    return [who, classes = test_set.classes](const basin::error& e) {
      const std::string w = e.what();
      return w.find(who) != std::string::npos &&
             w.find("image 39 has the label " + std::to_string(classes)) != std::string::npos;
    };
  };
  BOOST_CHECK_EXCEPTION(train_resumable(m, o, optim::constant_lr{0.01}, data, options(1), r, &test_set), basin::error,
                        says_label("train_resumable (test set)"));
  BOOST_TEST(o.steps() == 0);
  BOOST_TEST(!fs::exists(s.file(1)));
  BOOST_CHECK_EXCEPTION(evaluate(m, test_set), basin::error, says_label("evaluate"));
  data.labels[0] = -1;
  BOOST_CHECK_EXCEPTION(train(m, o, optim::constant_lr{0.01}, data, options(1)), basin::error,
                        [](const basin::error& e) {
                          return std::string(e.what()).find("image 0 has the label -1") != std::string::npos;
                        });
}

namespace {
bool says(const basin::error& e, std::initializer_list<const char*> parts) {
  const std::string w = e.what();
  for (const char* p : parts)
    if (w.find(p) == std::string::npos) {
      BOOST_TEST_MESSAGE("message lacks '" << p << "': " << w);
      return false;
    }
  return true;
}
}  // namespace

BOOST_AUTO_TEST_CASE(another_run_optimizer_or_net_is_refused_and_nothing_changes) {
  using M = model<tiny, float, backend::host>;
  const auto data = test::random_dataset(M::in, 64, 6);
  scratch s;
  M m(1);
  optim::optimizer<optim::sgd, float, backend::host> o({0.9, 5e-4, true}, M::n_params);
  train(m, o, optim::constant_lr{0.01}, data, options(1));
  save_training_checkpoint(m, o, s.file(1), 1, -1, "recipe A");

  M fresh(2);
  const auto before = values(fresh);
  {
    optim::optimizer<optim::sgd, float, backend::host> other({0.9, 1e-3, true}, M::n_params);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(fresh, other, s.file(1)), basin::error, [&](const basin::error& e) {
      return says(e, {s.file(1).c_str(), "weight_decay = 0.0005", "weight_decay = 0.001"});
    });
    BOOST_TEST(other.steps() == 0);
  }
  {
    optim::optimizer<optim::adam, float, backend::host> adam({}, M::n_params);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(fresh, adam, s.file(1)), basin::error, [&](const basin::error& e) {
      return says(e, {s.file(1).c_str(), "'sgd'", "'adam'"});
    });
  }
  {
    optim::optimizer<optim::sgd, float, backend::host> same({0.9, 5e-4, true}, M::n_params);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(fresh, same, s.file(1), "recipe B"), basin::error,
                          [&](const basin::error& e) {
                            return says(e, {s.file(1).c_str(), "recipe A", "recipe B"});
                          });
    BOOST_TEST(same.steps() == 0);
    // The recipe train_resumable stores includes the epochs: a rerun with more epochs is another run.
    const resume_options r{[&](int e) { return s.file(e); }, "recipe A", true, false};
    save_training_checkpoint(m, o, s.file(1), 1, -1, training_recipe("recipe A", options(1), data.size()));
    BOOST_CHECK_EXCEPTION(train_resumable(fresh, same, optim::constant_lr{0.01}, data, options(2), r), basin::error,
                          [&](const basin::error& e) {
                            return says(e, {"epochs 1", "epochs 2"});
                          });
  }
  {
    model<tiny_other, float, backend::host> other(1);
    optim::optimizer<optim::sgd, float, backend::host> so({0.9, 5e-4, true}, other.n_params);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(other, so, s.file(1)), basin::error, [&](const basin::error& e) {
      return says(e, {s.file(1).c_str(), "architecture"});
    });
    BOOST_TEST(so.steps() == 0);
  }
  BOOST_TEST(differing(before, values(fresh)) == 0u);

  // A state that loads: steps and momentum arrive.
  optim::optimizer<optim::sgd, float, backend::host> same({0.9, 5e-4, true}, M::n_params);
  const auto info = load_training_checkpoint(fresh, same, s.file(1));
  BOOST_TEST(info.optimizer_restored);
  BOOST_TEST(same.steps() == o.steps());
  BOOST_TEST(differing_state(same.save_state(), o.save_state()) == 0u);
  BOOST_TEST(differing(values(fresh), values(m)) == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_optimizer_groups_are_named) {
  using M = model<tiny, float, backend::host>;
  scratch s;
  M m(1);
  optim::optimizer<optim::sgd, float, backend::host> o({0.9, 0, false}, M::n_params);
  const auto names = M::parameter_names();
  const auto make = [&](const std::string& path, auto&& spoil) {
    save_training_checkpoint(m, o, path, 1);
    auto f = h5::file::open(path, true);
    spoil(f);
  };
  const auto refused = [&](const std::string& path, std::initializer_list<const char*> parts) {
    M fresh(2);
    optim::optimizer<optim::sgd, float, backend::host> fo({0.9, 0, false}, M::n_params);
    const auto before = values(fresh);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(fresh, fo, path), basin::error,
                          [&](const basin::error& e) { return says(e, {path.c_str()}) && says(e, parts); });
    BOOST_TEST(differing(before, values(fresh)) == 0u);
  };
  // A wrong shape for one slot tensor.
  const auto shape = (s.dir / "shape.h5").string();
  save_checkpoint(m, shape, 1);
  {
    auto f = h5::file::open(shape, true);
    f.create_group("optimizer");
    f.set_attr("optimizer", "format", "basin-optimizer-1");
    f.set_attr("optimizer", "kind", "sgd");
    f.set_attr("optimizer", "scalar", "float32");
    f.set_attr("optimizer", "steps", std::int64_t(3));
    f.set_attr("optimizer", "settings", "momentum,weight_decay,nesterov");
    f.set_attr("optimizer", "momentum", 0.9);
    f.set_attr("optimizer", "weight_decay", 0.0);
    f.set_attr("optimizer", "nesterov", 0.0);
    f.set_attr("optimizer", "slots", "momentum_buffer");
    const std::vector<float> z(7, 0.f);
    f.write<float>("optimizer/momentum_buffer/" + names[0], z, {7});
  }
  refused(shape, {names[0].c_str(), "shape (7)"});
  // A setting listed but missing, a wrong format, a missing tensor.
  const auto setting = (s.dir / "setting.h5").string();
  make(setting, [](h5::file& f) { f.set_attr("optimizer", "settings", "momentum,weight_decay,nesterov,dampening"); });
  refused(setting, {"dampening"});
  const auto format = (s.dir / "format.h5").string();
  make(format, [](h5::file& f) { f.set_attr("optimizer", "format", "basin-optimizer-9"); });
  refused(format, {"basin-optimizer-9"});
  // A step count of 2^53 is refused on loading (its next step's count is not exact in a double;
  // near 2^63 the counter overflowed at the next step).
  const auto steps = (s.dir / "steps.h5").string();
  make(steps, [](h5::file& f) { f.set_attr("optimizer", "steps", std::int64_t(9007199254740992)); });
  refused(steps, {"9007199254740992 steps, expected 0 to 2^53 - 1"});
  auto st = o.save_state();
  st.steps = optim::max_optimizer_steps + 1;
  BOOST_CHECK_EXCEPTION(o.load_state(st), basin::error, [](const basin::error& e) { return says(e, {"to 2^53"}); });
  const auto slot = (s.dir / "slot.h5").string();
  make(slot, [](h5::file& f) { f.set_attr("optimizer", "slots", "momentum_buffer,velocity"); });
  refused(slot, {"optimizer/velocity/"});
}

// Values that no training leaves (a weight or optimizer slot that is not finite, a running
// variance or an Adam second moment below 0) are refused naming the file, the tensor, the value
// and where it is; the same file unspoiled loads.
BOOST_AUTO_TEST_CASE(values_no_training_leaves_are_refused_by_name) {
  using M = model<tiny, float, backend::host>;
  using adam_t = optim::optimizer<optim::adam, float, backend::host>;
  scratch s;
  M m(1);
  adam_t o({0.9, 0.999, 1e-8, 0}, M::n_params);
  const auto pn = M::parameter_names();
  std::string var;
  for (const auto& n : M::state_names())
    if (var.empty() && n.ends_with("running_var")) var = n;
  BOOST_TEST_REQUIRE(!var.empty());
  const auto spoiled = [&](const std::string& name, const std::string& tensor, float value, index_t at) {
    const auto path = (s.dir / name).string();
    save_training_checkpoint(m, o, path, 1);
    auto f = h5::file::open(path, true);
    f.write_range<float>(tensor, at, &value, 1);
    return path;
  };
  const auto refused = [&](const std::string& path, std::initializer_list<const char*> parts) {
    M fresh(2);
    adam_t fo({0.9, 0.999, 1e-8, 0}, M::n_params);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(fresh, fo, path), basin::error,
                          [&](const basin::error& e) { return says(e, {path.c_str()}) && says(e, parts); });
  };
  const auto good = spoiled("good.h5", pn[0], 0.25f, 0);
  {
    M fresh(2);
    adam_t fo({0.9, 0.999, 1e-8, 0}, M::n_params);
    BOOST_CHECK_NO_THROW(load_training_checkpoint(fresh, fo, good));
  }
  const auto weight = spoiled("weight.h5", pn[0], NAN, 3);
  refused(weight, {pn[0].c_str(), "holds nan at flat index 3", "expected finite values"});
  BOOST_CHECK_THROW(
      [&] {
        M plain(2);
        load_checkpoint(plain, weight);
      }(),
      basin::error);
  refused(spoiled("variance.h5", var, -0.5f, 1), {var.c_str(), "holds -0.5 at flat index 1", "a finite variance >= 0"});
  refused(spoiled("square.h5", "optimizer/exp_avg_sq/" + pn[1], -1.0f, 2),
          {"exp_avg_sq", "holds -1 at flat index 2", "a finite value >= 0"});
  refused(spoiled("moment.h5", "optimizer/exp_avg/" + pn[1], INFINITY, 0), {"exp_avg/", "holds inf", "finite values"});
}

// A quantized state whose grids no optimizer of these settings could have made (a 4-bit grid
// spanning 20 steps, an infinite spacing) is refused before anything changes, layers included.
BOOST_AUTO_TEST_CASE(quantized_grids_that_do_not_fit_are_refused_whole) {
  using M = model<tiny, float, backend::host>;
  using Q = optim::quantized_optimizer<M, optim::adam>;
  const auto data = test::random_dataset(M::in, 64, 8);
  scratch s;
  M m(1);
  Q q(m, optim::adam{}, {optim::rounding::stochastic, 4, 0.0, 3});
  train(m, q.bind(m), optim::constant_lr{1e-3}, data, options(1));
  for (const auto& [what, spoil] : std::vector<std::pair<std::string, std::function<void(quant::grid&)>>>{
           {"wide", [](quant::grid& g) { g.hi = 20 * g.delta; }},
           {"inf", [](quant::grid& g) { g.delta = g.hi = INFINITY; }},
           {"binary", [](quant::grid& g) { g.binary = true; }}}) {
    auto st = q.save_state();
    spoil(st.grids.back().g);
    const auto file = (s.dir / (what + ".h5")).string();
    save_training_checkpoint(m, q, file, 1);
    {
      auto f = h5::file::open(file, true);
      std::vector<double> g;
      for (const auto& tg : st.grids)
        g.insert(g.end(), {double(tg.offset), double(tg.size), tg.g.delta, tg.g.lo, tg.g.hi, tg.g.binary ? 1.0 : 0.0});
      f.overwrite<double>("optimizer/grids", g.data(), {hsize_t(st.grids.size()), 6});
    }
    M fresh(2);
    Q fq(fresh, optim::adam{}, {optim::rounding::stochastic, 4, 0.0, 3});
    const auto before = fq.save_state();
    const auto params = values(fresh);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(fresh, fq, file), basin::error, [&](const basin::error& e) {
      return says(e, {file.c_str(), "grid ", "is not an integer grid of 4 bit(s)"});
    });
    const auto after = fq.save_state();
    BOOST_TEST(differing_state(before, after) == 0u, what);
    BOOST_TEST(after.grids.size() == before.grids.size());
    for (std::size_t k = 0; k < after.grids.size(); ++k) BOOST_TEST(after.grids[k].g.delta == before.grids[k].g.delta);
    BOOST_TEST(differing(params, values(fresh)) == 0u);
  }
}

// A file at epoch e's path that holds another epoch, a state of another scalar type, an
// "optimizer" that is not a group: refused, and nothing is loaded.
BOOST_AUTO_TEST_CASE(wrong_epoch_scalar_or_object_is_refused) {
  using M = model<tiny, float, backend::host>;
  const auto data = test::random_dataset(M::in, 64, 7);
  scratch s;
  M m(1);
  optim::optimizer<optim::sgd, float, backend::host> o({0.9, 0, false}, M::n_params);
  train(m, o, optim::constant_lr{0.01}, data, options(1));
  save_training_checkpoint(m, o, s.file(2), 1, -1, training_recipe("", options(3), data.size()));
  {
    M fresh(2);
    optim::optimizer<optim::sgd, float, backend::host> fo({0.9, 0, false}, M::n_params);
    const auto before = values(fresh);
    BOOST_CHECK_EXCEPTION(train_resumable(fresh, fo, optim::constant_lr{0.01}, data, options(3),
                                          {[&](int e) { return s.file(e); }, "", true, false}),
                          basin::error, [&](const basin::error& e) {
                            return says(e, {s.file(2).c_str(), "after epoch 1, expected 2"});
                          });
    BOOST_TEST(differing(before, values(fresh)) == 0u);
    BOOST_TEST(fo.steps() == 0);
  }
  {
    using MD = model<tiny, double, backend::host>;
    MD md(1);
    optim::optimizer<optim::sgd, double, backend::host> od({0.9, 0, false}, MD::n_params);
    const auto file = (s.dir / "double.h5").string();
    save_training_checkpoint(md, od, file, 1);
    M fresh(2);
    optim::optimizer<optim::sgd, float, backend::host> fo({0.9, 0, false}, M::n_params);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(fresh, fo, file), basin::error, [&](const basin::error& e) {
      return says(e, {file.c_str(), "float64", "float32"});
    });
  }
  {
    const auto file = (s.dir / "dataset.h5").string();
    save_checkpoint(m, file, 1);
    h5::file::open(file, true).write_scalar<double>("optimizer", 1.0);
    M fresh(2);
    optim::optimizer<optim::sgd, float, backend::host> fo({0.9, 0, false}, M::n_params);
    BOOST_CHECK_EXCEPTION(load_training_checkpoint(fresh, fo, file), basin::error, [&](const basin::error& e) {
      return says(e, {file.c_str(), "is not a group"});
    });
  }
}

// load_or_train: its own file loads with the optimizer's state; a plain checkpoint loads the
// model alone; another recipe's file is refused unless the caller takes any checkpoint.
BOOST_AUTO_TEST_CASE(load_or_train_loads_its_own_and_refuses_another_run) {
  using M = model<tiny, float, backend::host>;
  const auto data = test::random_dataset(M::in, 64, 9);
  scratch s;
  const auto file = (s.dir / "net.h5").string();
  M a(1);
  optim::optimizer<optim::sgd, float, backend::host> oa({0.9, 0, false}, M::n_params);
  const auto trained =
      load_or_train(a, oa, optim::constant_lr{0.01}, data, options(2), file, "lr 0.01", nullptr, false);
  BOOST_TEST(trained.history.size() == 2u);
  BOOST_TEST(fs::exists(file));
  BOOST_TEST(!fs::exists(file + ".epoch1.h5"));
  M b(2);
  optim::optimizer<optim::sgd, float, backend::host> ob({0.9, 0, false}, M::n_params);
  const auto loaded = load_or_train(b, ob, optim::constant_lr{0.01}, data, options(2), file, "lr 0.01", nullptr, false);
  BOOST_TEST(loaded.history.empty());
  BOOST_TEST(loaded.optimizer_restored);
  BOOST_TEST(ob.steps() == oa.steps());
  BOOST_TEST(differing(values(a), values(b)) == 0u);
  M c(3);
  optim::optimizer<optim::sgd, float, backend::host> oc({0.9, 0, false}, M::n_params);
  BOOST_CHECK_EXCEPTION(
      load_or_train(c, oc, optim::constant_lr{0.02}, data, options(2), file, "lr 0.02", nullptr, false), basin::error,
      [&](const basin::error& e) {
        return says(e, {file.c_str(), "lr 0.01; epochs 2", "lr 0.02; epochs 2"});
      });
  const auto any = load_or_train(c, oc, optim::constant_lr{0.02}, data, options(2), file, "lr 0.02", nullptr, false,
                                 other_recipe::load_model);
  BOOST_TEST(!any.optimizer_restored);
  BOOST_TEST(oc.steps() == 0);
  BOOST_TEST(differing(values(a), values(c)) == 0u);
  // Another data set of the same size is another run: the recipe names the data's digest.
  const auto other_data = test::random_dataset(M::in, 64, 10);
  const auto mine = "data " + data_digest(data), theirs = "data " + data_digest(other_data);
  BOOST_TEST(mine != theirs);
  M e(4);
  optim::optimizer<optim::sgd, float, backend::host> oe({0.9, 0, false}, M::n_params);
  BOOST_CHECK_EXCEPTION(
      load_or_train(e, oe, optim::constant_lr{0.01}, other_data, options(2), file, "lr 0.01", nullptr, false),
      basin::error, [&](const basin::error& err) {
        return says(err, {file.c_str(), mine.c_str(), theirs.c_str()});
      });
  BOOST_TEST(oe.steps() == 0);
  // A file written before recipes named their data is taken as this run's when the rest agrees.
  save_training_checkpoint(a, oa, file, 2, -1, training_recipe("lr 0.01", options(2), data.size()));
  M g(5);
  optim::optimizer<optim::sgd, float, backend::host> og({0.9, 0, false}, M::n_params);
  const auto legacy = load_or_train(g, og, optim::constant_lr{0.01}, data, options(2), file, "lr 0.01", nullptr, false);
  BOOST_TEST(legacy.optimizer_restored);
  BOOST_TEST(differing(values(a), values(g)) == 0u);
  BOOST_TEST(detail::same_recipe("r, 64 images", "r, 64 images, data 0123456789abcdef"));
  BOOST_TEST(!detail::same_recipe("r, 64 images, data 0123456789abcdef", "r, 64 images, data 0123456789abcdee"));
  BOOST_TEST(!detail::same_recipe("r, 63 images", "r, 64 images, data 0123456789abcdef"));
}

// load_or_train's on_epoch sees each epoch trained now, with its test evaluation; none when the
// file is loaded.
BOOST_AUTO_TEST_CASE(load_or_train_reports_each_epoch_trained) {
  using M = model<tiny, float, backend::host>;
  const auto data = test::random_dataset(M::in, 64, 9), test_set = test::random_dataset(M::in, 32, 11);
  scratch s;
  const auto file = (s.dir / "net.h5").string();
  std::vector<epoch_record> seen;
  const auto record = [&](const epoch_record& r) { seen.push_back(r); };
  M a(1);
  optim::optimizer<optim::sgd, float, backend::host> oa({0.9, 0, false}, M::n_params);
  const auto trained = load_or_train(a, oa, optim::constant_lr{0.01}, data, options(3), file, "lr 0.01", &test_set,
                                     false, other_recipe::refuse, record);
  BOOST_TEST_REQUIRE(seen.size() == 3u);
  for (int e = 0; e < 3; ++e) {
    BOOST_TEST(seen[std::size_t(e)].epoch == e + 1);
    BOOST_TEST(seen[std::size_t(e)].test.loss == trained.history[std::size_t(e)].test.loss);
  }
  const auto final_eval = evaluate(a, test_set);
  BOOST_TEST(seen.back().test.loss == final_eval.loss);  // the last epoch's evaluation is the final model's
  BOOST_TEST(seen.back().test.accuracy == final_eval.accuracy);
  seen.clear();
  M b(2);
  optim::optimizer<optim::sgd, float, backend::host> ob({0.9, 0, false}, M::n_params);
  load_or_train(b, ob, optim::constant_lr{0.01}, data, options(3), file, "lr 0.01", &test_set, false,
                other_recipe::refuse, record);
  BOOST_TEST(seen.empty());
}

// A kill after an epoch's checkpoint and before the caller recorded it (on_epoch evaluating the
// test set): the rerun resumes after that epoch and on_resumed, given the model as it was then,
// fills the record in; every record equals the uninterrupted run's.
BOOST_AUTO_TEST_CASE(a_record_lost_after_its_checkpoint_is_filled_in_on_resume) {
  using M = model<tiny, float, backend::host>;
  using opt_t = optim::optimizer<optim::sgd, float, backend::host>;
  const auto data = test::random_dataset(M::in, 64, 9), test_set = test::random_dataset(M::in, 32, 11);
  const optim::constant_lr lr{0.01};
  scratch s;
  std::vector<double> straight;
  {
    M a(1);
    opt_t oa({0.9, 0, false}, M::n_params);
    load_or_train(a, oa, lr, data, options(3), (s.dir / "straight.h5").string(), "lr 0.01", &test_set, false,
                  other_recipe::refuse, [&](const epoch_record& r) { straight.push_back(r.test.loss); });
  }
  BOOST_TEST_REQUIRE(straight.size() == 3u);
  const auto file = (s.dir / "net.h5").string();
  std::map<int, double> records;
  const auto record = [&](const epoch_record& r) {
    if (r.epoch == 2 && records.size() == 1) throw stop_here{};  // killed while recording epoch 2
    records[r.epoch] = r.test.loss;
  };
  {
    M b(1);
    opt_t ob({0.9, 0, false}, M::n_params);
    BOOST_CHECK_THROW(
        load_or_train(b, ob, lr, data, options(3), file, "lr 0.01", &test_set, false, other_recipe::refuse, record),
        stop_here);
  }
  BOOST_TEST_REQUIRE(records.size() == 1u);
  M c(5);  // another initialization: the resumed model comes from the file
  opt_t oc({0.9, 0, false}, M::n_params);
  std::vector<int> resumed_at;
  const auto run = load_or_train(c, oc, lr, data, options(3), file, "lr 0.01", &test_set, false, other_recipe::refuse,
                                 record, [&](int e) {
                                   resumed_at.push_back(e);
                                   if (!records.count(e)) records[e] = evaluate(c, test_set).loss;
                                 });
  BOOST_TEST(run.resumed_after == 2);
  BOOST_TEST((resumed_at == std::vector<int>{2}));
  BOOST_TEST_REQUIRE(records.size() == 3u);
  for (int e = 1; e <= 3; ++e) BOOST_TEST(records[e] == straight[std::size_t(e - 1)], "epoch " << e);
  // Loading the finished file trains nothing and resumes nothing.
  resumed_at.clear();
  M d(6);
  opt_t od({0.9, 0, false}, M::n_params);
  load_or_train(d, od, lr, data, options(3), file, "lr 0.01", &test_set, false, other_recipe::refuse, record,
                [&](int e) { resumed_at.push_back(e); });
  BOOST_TEST(resumed_at.empty());
}

BOOST_AUTO_TEST_CASE(recipes_tell_close_numbers_apart) {
  BOOST_TEST(text("lr ", 0.1, " wd ", 5e-4) == "lr 0.1 wd 0.0005");
  BOOST_TEST(text(1.0000001) != text(1.0000002));
  BOOST_TEST(text(0.1f) == "0.1");
  BOOST_TEST(text(3, " ", std::string("x")) == "3 x");
}

BOOST_AUTO_TEST_CASE(bad_settings_are_refused_before_any_work) {
  using M = model<tiny, float, backend::host>;
  const auto data = test::random_dataset(M::in, 40, 5);
  M m(3);
  const auto before = values(m);
  const auto refused = [](const std::string& part) {
    return [part](const basin::error& e) {
      BOOST_TEST_MESSAGE(e.what());
      return std::string(e.what()).find(part) != std::string::npos;
    };
  };
  // An optimizer made for another net would step past the parameters.
  optim::optimizer<optim::sgd, float, backend::host> other({}, M::n_params - 1);
  BOOST_CHECK_EXCEPTION(
      train(m, other, optim::constant_lr{0.1}, data, options(1)), basin::error,
      refused(text("the optimizer was made for ", M::n_params - 1, " parameters, the model has ", M::n_params)));
  // The evaluation's batch size is checked before the epoch, not after it.
  optim::optimizer<optim::sgd, float, backend::host> opt({}, M::n_params);
  auto o = options(1);
  o.eval_batch_size = 0;
  int steps = 0;
  BOOST_CHECK_EXCEPTION(train(m, opt, optim::constant_lr{0.1}, data, o, &data, {}, [&](int, index_t) { ++steps; }),
                        basin::error, refused("train: eval_batch_size must be at least 1, got 0"));
  BOOST_TEST(steps == 0);
  {  // train_resumable evaluates the test set itself, after writing each epoch: checked first too
    scratch sr;
    const resume_options rr{[&](int e) { return sr.file(e); }, "", true, false};
    BOOST_CHECK_EXCEPTION(
        train_resumable(m, opt, optim::constant_lr{0.1}, data, o, rr, &data, {}, [&](int, index_t) { ++steps; }),
        basin::error, refused("train_resumable: eval_batch_size must be at least 1, got 0"));
    BOOST_TEST(steps == 0);
    BOOST_TEST(!fs::exists(sr.file(1)));
  }
  // A hand-built dataset whose pixels are fewer than its labels say.
  dataset short_pixels = data;
  short_pixels.images.resize(short_pixels.images.size() - 1);
  BOOST_CHECK_EXCEPTION(train(m, opt, optim::constant_lr{0.1}, short_pixels, options(1)), basin::error,
                        refused("train: dataset holds "));
  BOOST_CHECK_EXCEPTION(evaluate(m, short_pixels), basin::error, refused("evaluate: dataset holds "));
  // Settings that would turn every weight NaN (or 0) name themselves.
  using sgd_opt = optim::optimizer<optim::sgd, float, backend::host>;
  using adam_opt = optim::optimizer<optim::adam, float, backend::host>;
  BOOST_CHECK_EXCEPTION(sgd_opt({NAN, 0.0, false}, M::n_params), basin::error,
                        refused("sgd: momentum and weight_decay must be finite and >= 0, got nan and 0"));
  BOOST_CHECK_EXCEPTION(adam_opt({0.9, 0.999, -1e-8, 0.0}, M::n_params), basin::error,
                        refused("adam: eps must be finite and > 0 and weight_decay finite and >= 0"));
  BOOST_CHECK_EXCEPTION(adam_opt({0.9, 0.999, 0.0, 0.0}, M::n_params), basin::error, refused("adam: eps"));
  adam_opt tiny_eps({0.9, 0.999, 1e-300, 0.0}, M::n_params);  // a double, but 0 as a float
  BOOST_CHECK_EXCEPTION(tiny_eps.step(backend::raw(m.params), backend::raw(m.grads), 0.1), basin::error,
                        refused("adam: eps 1e-300 is 0 in this scalar type"));
  opt.policy.weight_decay = -1;  // changed after construction: refused at the step
  BOOST_CHECK_EXCEPTION(opt.step(backend::raw(m.params), backend::raw(m.grads), 0.1), basin::error,
                        refused("sgd: momentum and weight_decay must be finite and >= 0"));
  opt.policy.weight_decay = 0;
  BOOST_CHECK_EXCEPTION(train(m, opt, optim::cosine_lr{0.1, 0}, data, options(1)), basin::error,
                        refused("cosine_lr: epochs must be finite and > 0, got 0"));
  BOOST_CHECK_EXCEPTION(train(m, opt, optim::constant_lr{-0.1}, data, options(1)), basin::error,
                        refused("constant_lr: lr must be finite and >= 0, got -0.1"));
  BOOST_CHECK_EXCEPTION(train(m, opt, optim::constant_lr{0.1}, data, options(max_epochs + 1)), basin::error,
                        refused("train: epochs and first_epoch must be 0 to 1000000, got 1000001"));
  // (a schedule of the user's own: the trainer checks its first rate)
  BOOST_CHECK_EXCEPTION(train(m, opt, [](double) { return -0.1; }, data, options(1)), basin::error,
                        refused("train: the learning rate at epoch 1 is -0.1, expected finite and >= 0"));
  using Q = optim::quantized_optimizer<M, optim::sgd>;
  BOOST_CHECK_EXCEPTION(Q(m, {}, {optim::rounding::stochastic, 8, INFINITY}), basin::error,
                        refused("quantized_optimizer: delta must be finite and >= 0"));
  BOOST_CHECK_EXCEPTION(Q(m, {}, {optim::rounding::stochastic, 8, 1e307}), basin::error,
                        refused("quantized_optimizer: the grid of tensor '"));
  BOOST_TEST(differing(values(m), before) == 0u);  // nothing was trained
  // Batches larger than the data are not allocated in full.
  const auto all = evaluate(m, data, 40);
  const auto huge = evaluate(m, data, index_t(1) << 50);
  BOOST_TEST(huge.loss == all.loss);
  BOOST_TEST(huge.accuracy == all.accuracy);
}

BOOST_AUTO_TEST_SUITE_END()
