// Networks as types: shapes, the parameter table, names, initialization, whole-model gradients,
// checkpoints.
#define BOOST_TEST_MODULE net
#include <malloc.h>
#include <omp.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <limits>

#include "../layers/gradcheck.hpp"
#include "../scratch.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/layers/loss.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"

using namespace basin;
using host = backend::host;

namespace {
std::string temp_path(const std::string& name) {
  return test::scratch_path(name);
}
using small_net = network<input<3, 6, 6>, conv<4, 3>, batch_norm, relu, residual<conv<5, 3, 2, 1>, batch_norm>,
                          relu, repeat<2, named<"block", residual<conv<5, 3>, batch_norm, relu>>>, max_pool<2, 1>,
                          flatten, dense<3>>;
}  // namespace

BOOST_AUTO_TEST_CASE(shapes_are_inferred_at_compile_time) {
  static_assert(small_net::out == dims{3, 1, 1});
  using m20 = model<resnet20<fashion_input>, float>;
  static_assert(m20::classes == 10);
  static_assert(resnet20<fashion_input>::template bind<float, host>::shapes[5] == dims{32, 14, 14});  // after layer2
  static_assert(resnet56<cifar_input>::template bind<float, host>::shapes[7] == dims{64, 1, 1});     // after pooling
  BOOST_TEST(true);
}

BOOST_AUTO_TEST_CASE(resnet20_parameter_table) {
  using m = model<resnet20<fashion_input>, float>;
  // conv1 1*16*9 + bn1 32 + layer1 3*(2*16*16*9 + 64) + layer2 (16*32*9 + 32*32*9 + 128 + 32*16 + 64)
  // + 2*(2*32*32*9 + 128) + layer3 (32*64*9 + 64*64*9 + 256 + 64*32 + 128) + 2*(2*64*64*9 + 256)
  // + linear 64*10 + 10
  BOOST_TEST(m::n_params == 144 + 32 + 3 * (2 * 2304 + 64) + (4608 + 9216 + 128 + 512 + 64) +
                                2 * (2 * 9216 + 128) + (18432 + 36864 + 256 + 2048 + 128) + 2 * (2 * 36864 + 256) +
                                650);
  BOOST_TEST(m::n_params == 272186);
  BOOST_TEST(m::n_state == 2 * (16 + 6 * 16 + 6 * 32 + 32 + 6 * 64 + 64));
  const auto names = m::parameter_names();
  BOOST_TEST(names.size() == m::param_table.size());
  BOOST_TEST(names.front() == "conv1.weight");
  BOOST_TEST(names[3] == "layer1.0.conv1.weight");
  BOOST_TEST(names.back() == "linear.bias");
  BOOST_TEST(std::count(names.begin(), names.end(), "layer2.0.shortcut.0.weight") == 1);
  BOOST_TEST(std::count(names.begin(), names.end(), "layer3.0.shortcut.1.bias") == 1);
  BOOST_TEST(m::state_names()[0] == "bn1.running_mean");
  // Offsets are contiguous, filters are the first axis, kinds mark biases and bn parameters.
  index_t off = 0;
  for (const auto& d : m::param_table) {
    BOOST_TEST(d.offset == off);
    off += d.size();
  }
  BOOST_TEST(off == m::n_params);
  BOOST_TEST(m::param_table[0].filters() == 16);
  BOOST_TEST((m::param_table[0].kind == param_kind::weight));
  BOOST_TEST((m::param_table[1].kind == param_kind::bn_weight));
  BOOST_TEST((m::param_table.back().kind == param_kind::bias));
  BOOST_TEST(m::param_table.back().layer == m::param_table[m::param_table.size() - 2].layer);
}

BOOST_AUTO_TEST_CASE(plain_nets_are_resnets_without_shortcuts) {
  using r = model<resnet56<fashion_input>, float>;
  using p = model<plain56<fashion_input>, float>;
  auto rn = r::parameter_names();
  const auto pn = p::parameter_names();
  std::erase_if(rn, [](const std::string& s) { return s.find("shortcut") != std::string::npos; });
  BOOST_TEST(rn == pn, boost::test_tools::per_element());
  BOOST_TEST(r::architecture() == "resnet56");
  BOOST_TEST(p::architecture() == "plain56");
  BOOST_TEST(r::fingerprint() != p::fingerprint());
}

BOOST_AUTO_TEST_CASE(initialization_is_seeded_and_thread_independent) {
  using m = model<resnet20<cifar_input>, float>;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  m a(7);
  omp_set_num_threads(2);
  m b(7), c(8);
  omp_set_num_threads(threads);
  BOOST_TEST(std::equal(a.params.begin(), a.params.end(), b.params.begin()));
  BOOST_TEST(!std::equal(a.params.begin(), a.params.end(), c.params.begin()));
  // Kaiming-normal (fan-in) conv weights: layer3 convs have fan-in 576, std sqrt(2/576).
  const auto names = m::parameter_names();
  const auto at = std::find(names.begin(), names.end(), "layer3.1.conv1.weight") - names.begin();
  BOOST_TEST_REQUIRE(at < std::ptrdiff_t(names.size()));
  const auto& d = m::param_table[std::size_t(at)];
  double s2 = 0;
  for (index_t i = 0; i < d.size(); ++i) s2 += double(a.params[d.offset + i]) * a.params[d.offset + i];
  // 36864 draws: the sample variance is within 5 sd (sqrt(2/n) relative) of 2/576.
  BOOST_TEST(std::abs(s2 / double(d.size()) / (2.0 / 576) - 1) < 5 * std::sqrt(2.0 / 36864));
  BOOST_TEST(a.params[m::param_table[1].offset] == 1.0f);  // bn1.weight
  BOOST_TEST(a.params[m::param_table[2].offset] == 0.0f);  // bn1.bias
}

// The largest relative difference between a model's parameter gradient (softmax cross-entropy of
// 4 images in train mode, double) and central differences; parameters moved off their
// initialization first. Each evaluation starts from the same running statistics.
template <class M>
double worst_gradient_error(M& net, std::uint64_t seed) {
  const index_t n = 4;
  std::vector<double> x(n * M::in.size());
  const counter_rng rng{seed, seed};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.normal(i);
  for (index_t i = 0; i < M::n_params; ++i) net.params[i] += 0.2 * rng.normal(std::uint64_t(10000 + i));
  const std::vector<std::int32_t> labels{0, 2, 1, 2};
  softmax_cross_entropy<double, host> ce;
  const std::vector<double> state0(net.state.begin(), net.state.end());
  const auto loss = [&](bool grad) {
    std::copy(state0.begin(), state0.end(), net.state.begin());
    const double* z = net.forward(x.data(), n, mode::train);
    return ce(z, labels.data(), M::classes, n, grad).loss;
  };
  loss(true);
  net.backward(backend::raw(ce.grad));
  const std::vector<double> g(net.grads.begin(), net.grads.end());
  double worst = 0;
  for (index_t i = 0; i < M::n_params; ++i) {
    const double keep = net.params[i], h = 1e-5;
    net.params[i] = keep + h;
    const double lp = loss(false);
    net.params[i] = keep - h;
    const double lm = loss(false);
    net.params[i] = keep;
    worst = basin::test::worse(worst, basin::test::rel_err((lp - lm) / (2 * h), g[i]));
  }
  std::copy(state0.begin(), state0.end(), net.state.begin());
  return worst;
}

BOOST_AUTO_TEST_CASE(whole_model_gradient_against_finite_differences) {
  // Through the model: (n, c, h, w) input conversion, residual projection, repeat, pooling,
  // flatten, dense and the softmax cross-entropy, in train mode, batch of 4, double.
  model<small_net, double> net(3);
  BOOST_TEST(worst_gradient_error(net, 11) < 1e-6);
}

BOOST_AUTO_TEST_CASE(densenet_gradient_against_finite_differences) {
  // A DenseNet-BC with growth 2 and blocks of 2 and 1 layers on 1x6x6: concatenations, a
  // transition's pooling, the final bn-relu-pool-dense; train mode, double.
  using m = model<densenet<input<1, 6, 6>, 2, 3, weights::real, 2, 1>, double>;
  BOOST_TEST(m::architecture() == "densenet_k2_2-1");
  m net(5);
  BOOST_TEST(worst_gradient_error(net, 12) < 1e-6);
  // Eval mode: the inference path (its fusions) equals forward(eval).
  const index_t n = 3;
  std::vector<double> x(n * 36);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(double(i));
  const double* ze = net.forward(x.data(), n, mode::eval);
  const std::vector<double> z(ze, ze + 3 * n);
  const double* zi = net.infer(x.data(), n);
  for (index_t i = 0; i < 3 * n; ++i) BOOST_TEST(zi[i] == z[i], boost::test_tools::tolerance(1e-12));
}

namespace {
// Bytes the C heap holds now (small blocks and mapped ones): what release_buffers should lower.
std::size_t heap_in_use() {
  const auto m = mallinfo2();
  return m.uordblks + m.hblkhd;
}
}  // namespace

BOOST_AUTO_TEST_CASE(release_buffers_frees_the_batch_and_keeps_the_model) {
  // Trained at a large batch, the model holds every activation for it; release_buffers gives the
  // memory back, and what follows (forward, backward, infer at any batch) computes the same.
  model<small_net, double> net(3);
  const index_t n = 64;
  std::vector<double> x(n * small_net::in.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * double(i));
  std::vector<std::int32_t> labels(n);
  for (index_t i = 0; i < n; ++i) labels[i] = std::int32_t(i % 3);
  softmax_cross_entropy<double, host> ce;
  const std::vector<double> state0(net.state.begin(), net.state.end());
  const auto step = [&] {
    std::copy(state0.begin(), state0.end(), net.state.begin());
    const double* z = net.forward(x.data(), n, mode::train);
    std::vector<double> logits(z, z + 3 * n);
    ce(z, labels.data(), 3, n, true);
    net.backward(backend::raw(ce.grad));
    return logits;
  };
  const auto z1 = step();
  const std::vector<double> g1(net.grads.begin(), net.grads.end());
  const double* zi = net.infer(x.data(), n);
  const std::vector<double> i1(zi, zi + 3 * n);

  const std::size_t before = heap_in_use();
  net.release_buffers();
  const std::size_t after = heap_in_use();
#ifndef __SANITIZE_ADDRESS__  // (the sanitizer's allocator keeps its own books)
  // At least the chain's activations: every layer's output but the last, n images each.
  index_t per_image = 0;
  for (std::size_t k = 1; k + 1 < model<small_net, double>::body_type::shapes.size(); ++k)
    per_image += model<small_net, double>::body_type::shapes[k].size();
  BOOST_TEST(before - after >= std::size_t(n * per_image) * sizeof(double));
#else
  (void)before, (void)after;
#endif
  // Nothing to go back through, nothing staged.
  BOOST_CHECK_THROW(net.backward(backend::raw(ce.grad)), basin::error);
  BOOST_CHECK_THROW(net.infer_staged(std::array<double, 3>{1, 0, 0}.data()), basin::error);

  zi = net.infer(x.data(), 5);  // a smaller batch first: the same images' logits
  for (index_t c = 0; c < 3; ++c)
    for (index_t i = 0; i < 5; ++i) BOOST_TEST(zi[c * 5 + i] == i1[std::size_t(c * n + i)]);
  net.release_buffers();
  const auto z2 = step();
  BOOST_TEST(z2 == z1, boost::test_tools::per_element());
  const std::vector<double> g2(net.grads.begin(), net.grads.end());
  BOOST_TEST(g2 == g1, boost::test_tools::per_element());

  // A DenseNet's concatenations and transitions release too, and compute the same after.
  using dm = model<densenet<input<1, 6, 6>, 2, 3, weights::real, 2, 1>, double>;
  dm d(5);
  std::vector<double> xd(std::size_t(n) * 36);
  for (std::size_t i = 0; i < xd.size(); ++i) xd[i] = std::cos(0.11 * double(i));
  const double* zd = d.forward(xd.data(), n, mode::eval);
  const std::vector<double> d1(zd, zd + 3 * n);
  d.release_buffers();
  zd = d.forward(xd.data(), n, mode::eval);
  BOOST_TEST(std::vector<double>(zd, zd + 3 * n) == d1, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(infer_reserves_only_the_inference_path) {
  // A model that only infers holds the activations the fused path writes and no gradient
  // buffers; forward and backward after it (at a smaller and a larger batch) compute what a fresh
  // model computes, and infer after them what it computed before.
  const index_t n = 16;
  std::vector<double> x(n * small_net::in.size() * 2);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.53 * double(i));
  std::vector<std::int32_t> labels(2 * n);
  for (index_t i = 0; i < 2 * n; ++i) labels[i] = std::int32_t(i % 3);
  softmax_cross_entropy<double, host> ce;
  using m = model<small_net, double>;
  const auto step = [&](m& net, index_t b) {
    const double* z = net.forward(x.data(), b, mode::eval);
    std::vector<double> out(z, z + 3 * b);
    ce(z, labels.data(), 3, b, true);
    net.backward(backend::raw(ce.grad));
    out.insert(out.end(), net.grads.begin(), net.grads.end());
    return out;
  };
  m net(4), fresh(4);
  const double* zi = net.infer(x.data(), n);
  const std::vector<double> i1(zi, zi + 3 * n);
  const double* ze = fresh.forward(x.data(), n, mode::eval);
  BOOST_TEST(std::vector<double>(ze, ze + 3 * n) == i1, boost::test_tools::tolerance(1e-12)
                                                            << boost::test_tools::per_element());

  // The top chain: conv -> bn -> relu writes only the relu's output; no gradient buffers anywhere.
  const auto& top = net.bound();
  constexpr auto writes = m::body_type::infer_writes;
  static_assert(!writes[0] && !writes[1] && writes[2] && writes[3] && writes[4]);
  for (std::size_t k = 0; k + 1 < writes.size(); ++k)
    BOOST_TEST((top.acts[k].size() > 0) == writes[k], "activation " << k);
  BOOST_TEST(top.grads[0].empty());
  BOOST_TEST(top.grads[1].empty());
  // The first residual block (projection, sum fused into the branch's last conv): no buffers of
  // its own but the projection's output; its branch keeps only the conv's output fed to nothing.
  const auto& block = std::get<3>(top.children);
  BOOST_TEST(block.branch_out.empty());
  BOOST_TEST(block.sum_grad.empty());
  BOOST_TEST(block.side.size() == std::size_t(n * 5 * 9));
  // The repeated blocks end in relu (not fused): the branch's output is kept, its sum is not.
  const auto& rep = std::get<5>(top.children);
  BOOST_TEST(rep.branch_out.size() == std::size_t(n * 5 * 9));
  BOOST_TEST(rep.sum_grad.empty());

  const auto a = step(net, n / 2);
  const auto b = step(fresh, n / 2);
  BOOST_TEST(a == b, boost::test_tools::per_element());
  // Staging a batch replaces the input forward saved: backward refuses instead of using it.
  const double* basis[1] = {backend::raw(net.params)};
  net.stage_basis(x.data(), 4, basis, 1);
  BOOST_CHECK_THROW(net.backward(backend::raw(ce.grad)), basin::error);
  const auto c = step(net, 2 * n);
  m fresh2(4);
  BOOST_TEST(c == step(fresh2, 2 * n), boost::test_tools::per_element());
  zi = net.infer(x.data(), n);
  BOOST_TEST(std::vector<double>(zi, zi + 3 * n) == i1, boost::test_tools::per_element());

#ifndef __SANITIZE_ADDRESS__
  // resnet20 on Fashion-MNIST at 64 images: infer takes less than half of forward's heap.
  using r20 = model<resnet20<fashion_input>, float>;
  const index_t nr = 64;
  std::vector<float> xr(std::size_t(nr * r20::in.size()));
  for (std::size_t i = 0; i < xr.size(); ++i) xr[i] = float(std::cos(0.01 * double(i)));
  std::size_t grew_infer = 0, grew_forward = 0;
  {
    r20 r(1);
    const std::size_t h0 = heap_in_use();
    r.infer(xr.data(), nr);
    grew_infer = heap_in_use() - h0;
  }
  {
    r20 r(1);
    const std::size_t h0 = heap_in_use();
    r.forward(xr.data(), nr, mode::eval);
    grew_forward = heap_in_use() - h0;
  }
  BOOST_TEST_MESSAGE("resnet20, 64 images: infer allocates " << grew_infer << " bytes, forward " << grew_forward);
  BOOST_TEST(2 * grew_infer < grew_forward);
#endif
}

// What would leave backward going back through moved or overwritten buffers is refused: growing
// the buffers after a forward, infer_staged after it, a forward that threw part-way; null
// pointers and empty batches are named; a rescaling factor past the scalar type's range is
// refused with the model unchanged.
BOOST_AUTO_TEST_CASE(misuse_between_forward_and_backward_is_refused) {
  model<small_net, double> net(3);
  const index_t n = 4;
  std::vector<double> x(n * small_net::in.size());
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * double(i));
  std::vector<std::int32_t> labels{0, 1, 2, 0};
  softmax_cross_entropy<double, host> ce;
  const auto forward = [&] { ce(net.forward(x.data(), n, mode::train), labels.data(), 3, n, true); };
  const auto refused = [](const char* what) {
    return [what](const basin::error& e) { return std::string(e.what()).find(what) != std::string::npos; };
  };
  forward();
  net.reserve(4096);  // grows: the saved input and activations move
  BOOST_CHECK_EXCEPTION(net.backward(backend::raw(ce.grad)), basin::error, refused("call forward first"));
  forward();
  net.reserve(2);  // no growth: backward goes on
  net.backward(backend::raw(ce.grad));
  forward();
  net.reserve_infer(8192);
  BOOST_CHECK_EXCEPTION(net.backward(backend::raw(ce.grad)), basin::error, refused("call forward first"));
  const std::vector<double> p0(net.params.begin(), net.params.end());
  const double* basis[1] = {backend::raw(net.params)};
  net.stage_basis(x.data(), n, basis, 1);
  forward();
  const double one = 1;
  net.infer_staged(&one);  // overwrites the activations and the batch norms' statistics
  BOOST_CHECK_EXCEPTION(net.backward(backend::raw(ce.grad)), basin::error, refused("call forward first"));
  // A batch norm after a 1 x 1 map refuses one image in train mode: nothing to go back through.
  using flat_bn = network<input<3, 4, 4>, conv<4, 3>, batch_norm, relu, flatten, dense<4>, batch_norm, relu, dense<3>>;
  model<flat_bn, double> fb(1);
  std::vector<double> one_image(flat_bn::in.size(), 0.5);
  fb.forward(one_image.data(), 1, mode::eval);
  std::vector<double> dz(3, 1.0);
  fb.backward(dz.data());  // (after an eval forward: allowed)
  BOOST_CHECK_THROW(fb.forward(one_image.data(), 1, mode::train), basin::error);
  BOOST_CHECK_EXCEPTION(fb.backward(dz.data()), basin::error, refused("call forward first"));
  // Null pointers and empty batches, named.
  BOOST_CHECK_EXCEPTION(net.forward(nullptr, n, mode::eval), basin::error, refused("model::forward: the input x"));
  // Batches whose buffers cannot exist: sizes that overflow (they wrapped to small buffers,
  // written past), and more memory than there is (std::bad_alloc or the OOM killer before).
  BOOST_CHECK_EXCEPTION(net.reserve(index_t(1) << 61), basin::error, refused("overflows the sizes of its buffers"));
  BOOST_CHECK_EXCEPTION(net.forward(x.data(), index_t(1) << 44, mode::eval), basin::error,
                        refused("whose layers' outputs alone needs"));
  BOOST_CHECK_EXCEPTION(net.reserve_infer(index_t(1) << 44), basin::error, refused("model::reserve_infer: batch size"));
  // A batch norm momentum outside [0, 1] (NaN, 3: NaN or negative running variances), a staged
  // point's coefficient that is not finite.
  for (const double bad : {-0.1, 3.0, std::numeric_limits<double>::quiet_NaN()})
    BOOST_CHECK_EXCEPTION(net.set_batch_norm_momentum(bad), basin::error, refused("expected a number in [0, 1]"));
  net.stage_basis(x.data(), n, basis, 1);
  const double nan_coef = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(net.infer_staged(&nan_coef), basin::error, refused("model::infer_staged: coef[0] = nan"));
  BOOST_CHECK_EXCEPTION(net.infer(nullptr, n), basin::error, refused("model::infer: the input x"));
  forward();
  BOOST_CHECK_EXCEPTION(net.backward(nullptr), basin::error, refused("model::backward: the gradient dlogits"));
  BOOST_CHECK_EXCEPTION(net.infer_staged(nullptr), basin::error, refused("model::infer_staged: the coefficients"));
  const double* none[1] = {nullptr};
  BOOST_CHECK_EXCEPTION(net.stage_basis(x.data(), n, none, 1), basin::error, refused("basis vector 0"));
  BOOST_CHECK_EXCEPTION(ce(net.infer(x.data(), n), labels.data(), 3, 0, false), basin::error,
                        refused("softmax_cross_entropy: need a batch of at least 1"));
  BOOST_CHECK_EXCEPTION(ce(net.infer(x.data(), n), labels.data(), 0, n, false), basin::error, refused("classes = 0"));
  BOOST_CHECK_EXCEPTION(ce(nullptr, labels.data(), 3, n, false), basin::error, refused("null pointer"));
  sigmoid_cross_entropy<double, host> bce;
  BOOST_CHECK_EXCEPTION(bce(dz.data(), 1.0, 0, false), basin::error, refused("sigmoid_cross_entropy: need a batch"));
  // Rescaling past float's range: refused, the model unchanged.
  model<small_net, float> f(2);
  const std::vector<float> fp(f.params.begin(), f.params.end()), fs(f.state.begin(), f.state.end());
  BOOST_CHECK_EXCEPTION(f.rescale_before_batch_norm(1e30), basin::error, refused("the factor 1e+30 turns"));
  BOOST_CHECK_EXCEPTION(f.rescale_before_batch_norm(1e-25), basin::error, refused("the factor 1e-25 turns"));
  BOOST_TEST((std::vector<float>(f.params.begin(), f.params.end()) == fp));
  BOOST_TEST((std::vector<float>(f.state.begin(), f.state.end()) == fs));
  // A factor in range: the five convs that feed a batch norm (the first, the strided residual's
  // conv and its projection shortcut's, the two repeated blocks') scaled, the dense layer left alone.
  BOOST_TEST(f.rescale_before_batch_norm(10) == 5);
  const auto& first = decltype(f)::param_table[0];
  const auto& last = decltype(f)::param_table.back();  // the dense layer's bias
  for (index_t i = first.offset; i < first.offset + first.size(); ++i)
    BOOST_TEST_REQUIRE(f.params[std::size_t(i)] == float(double(fp[std::size_t(i)]) * 10));
  for (index_t i = last.offset; i < last.offset + last.size(); ++i)
    BOOST_TEST_REQUIRE(f.params[std::size_t(i)] == fp[std::size_t(i)]);
}

BOOST_AUTO_TEST_CASE(densenet_names_and_sizes) {
  // The reference tool's DenseNet-121 for CIFAR-10: its state_dict names in order, and its size
  // (6,956,298 parameters as torchinfo reports for it; check_forward.py loads densenet_cifar's
  // checkpoint into PyTorch with strict=True, which checks every name and shape).
  using m = model<densenet121<>, float>;
  BOOST_TEST(m::n_params == 6956298);
  BOOST_TEST(densenet121<>::depth == 121);
  BOOST_TEST(m::architecture() == "densenet121");
  const auto p = m::parameter_names();
  BOOST_TEST(p.front() == "conv1.weight");
  BOOST_TEST(p[1] == "dense1.0.bn1.weight");
  BOOST_TEST(p[6] == "dense1.0.conv2.weight");
  BOOST_TEST(p.back() == "linear.bias");
  BOOST_TEST(std::count(p.begin(), p.end(), "trans3.conv.weight") == 1);
  BOOST_TEST(std::count(p.begin(), p.end(), "dense4.15.conv2.weight") == 1);
  BOOST_TEST(std::count(p.begin(), p.end(), "trans4.conv.weight") == 0);
  // 1024 channels reach the classifier: 64 + 6*32 -> 128, +12*32 -> 256, +24*32 -> 512, +16*32.
  BOOST_TEST(m::param_table[m::param_table.size() - 2].extent[1] == 1024);
  BOOST_TEST(densenet22<>::depth == 22);
}

BOOST_AUTO_TEST_CASE(checkpoint_round_trip) {
  using m = model<resnet20<fashion_input>, float>;
  m a(5), b(6);
  std::vector<float> x(3 * 784);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 17) / 17;
  a.forward(x.data(), 3, mode::train);  // moves running statistics away from (0, 1)
  const auto path = temp_path("rt.h5");
  save_checkpoint(a, path, 4, 100);
  const auto info = load_checkpoint(b, path);
  BOOST_TEST(info.architecture == "resnet20");
  BOOST_TEST(info.epoch == 4);
  BOOST_TEST(info.step == 100);
  BOOST_TEST(std::equal(a.params.begin(), a.params.end(), b.params.begin()));
  BOOST_TEST(std::equal(a.state.begin(), a.state.end(), b.state.begin()));
  BOOST_TEST(b.batches_tracked == 1);
  const std::vector<float> za(a.forward(x.data(), 3, mode::eval), a.forward(x.data(), 3, mode::eval) + 30);
  const float* zb = b.forward(x.data(), 3, mode::eval);
  for (int i = 0; i < 30; ++i) BOOST_TEST(za[i] == zb[i]);
  // PyTorch shapes.
  auto f = h5::file::open(path);
  BOOST_TEST((f.shape("layer2.0.shortcut.0.weight") == std::vector<hsize_t>{32, 16, 1, 1}));
  BOOST_TEST((f.shape("linear.weight") == std::vector<hsize_t>{10, 64}));
  BOOST_TEST(f.read<std::int64_t>("layer3.2.bn2.num_batches_tracked")[0] == 1);
}

BOOST_AUTO_TEST_CASE(checkpoint_of_another_architecture_is_refused) {
  model<resnet20<fashion_input>, float> a(1);
  model<plain20<fashion_input>, float> p(1);
  model<resnet20<cifar_input>, float> c(1);
  const auto path = temp_path("arch.h5");
  save_checkpoint(a, path);
  const std::vector<float> before(p.params.begin(), p.params.end());
  const auto names_both = [&](const basin::error& e) {
    const std::string w = e.what();
    return w.find(path) != std::string::npos && w.find("resnet20") != std::string::npos &&
           w.find("plain20") != std::string::npos;
  };
  BOOST_CHECK_EXCEPTION(load_checkpoint(p, path), basin::error, names_both);
  BOOST_TEST(std::equal(before.begin(), before.end(), p.params.begin()));  // unchanged
  // Same name, other input shape: the fingerprint tells them apart.
  BOOST_CHECK_THROW(load_checkpoint(c, path), basin::error);
  // A malformed file's 100000-character architecture is quoted by its start and length.
  const auto long_name = temp_path("long_name.h5");
  save_checkpoint(a, long_name);
  h5::file::open(long_name, true).set_attr("/", "architecture", std::string(100000, 'x'));
  BOOST_CHECK_EXCEPTION(load_checkpoint(a, long_name), basin::error, [](const basin::error& e) {
    const std::string w = e.what();
    return w.size() < 1000 && w.find("xxx... (100000 characters)") != std::string::npos;
  });
  // Not a checkpoint at all, a missing file, a truncated file.
  const auto junk = temp_path("junk.h5");
  std::ofstream(junk) << "not hdf5";
  BOOST_CHECK_THROW(load_checkpoint(a, junk), basin::error);
  BOOST_CHECK_THROW(load_checkpoint(a, temp_path("missing.h5")), basin::error);
  const auto cut = temp_path("cut.h5");
  std::filesystem::copy_file(path, cut, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) / 2);
  BOOST_CHECK_THROW(load_checkpoint(a, cut), basin::error);
}

// A PyTorch state_dict as examples/torch_to_basin.py writes it (the tensors, format
// "torch-state-dict-1", no architecture or fingerprint) loads by name and shape, as PyTorch's
// strict load_state_dict; a missing tensor, an unexpected one and a wrong shape are refused,
// named, with the model unchanged.
BOOST_AUTO_TEST_CASE(pytorch_state_dicts_load_by_name_and_shape) {
  using m = model<resnet20<fashion_input>, float>;
  m a(5), b(6);
  std::vector<float> x(3 * 784);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) / 13;
  a.forward(x.data(), 3, mode::train);
  const auto as_torch = [&](const std::string& name, const auto& edit) {
    const auto path = temp_path(name);
    save_checkpoint(a, path);
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_REQUIRE(f >= 0);
    for (const char* attr : {"architecture", "fingerprint", "format", "epoch", "step"})
      BOOST_REQUIRE(H5Adelete_by_name(f, "/", attr, H5P_DEFAULT) >= 0);
    edit(f);
    H5Fclose(f);
    h5::file::open(path, true).set_attr("/", "format", "torch-state-dict-1");
    return path;
  };
  const auto good = as_torch("torch.h5", [](hid_t) {});
  const auto info = load_checkpoint(b, good);
  BOOST_TEST(info.from_torch);
  BOOST_TEST(info.architecture.empty());
  BOOST_TEST(std::equal(a.params.begin(), a.params.end(), b.params.begin()));
  BOOST_TEST(std::equal(a.state.begin(), a.state.end(), b.state.begin()));
  BOOST_TEST(b.batches_tracked == 1);
  // Without the batch norms' num_batches_tracked (a state_dict from before PyTorch 0.4.1, or
  // rebuilt as a plain dict): loaded, the count 0, as PyTorch's strict load_state_dict takes it.
  const auto no_counters = as_torch("no_counters.h5", [](hid_t f) {
    for (const auto& n : m::state_names())
      if (n.ends_with("running_var")) BOOST_REQUIRE(H5Ldelete(f, detail::counter_name(n).c_str(), H5P_DEFAULT) >= 0);
  });
  m d(8);
  load_checkpoint(d, no_counters);
  BOOST_TEST(std::equal(a.params.begin(), a.params.end(), d.params.begin()));
  BOOST_TEST(d.batches_tracked == 0);

  m c(7);
  const std::vector<float> before(c.params.begin(), c.params.end());
  const auto refused = [&](auto& model, const std::string& path, const std::string& what) {
    BOOST_CHECK_EXCEPTION(load_checkpoint(model, path), basin::error, [&](const basin::error& e) {
      const std::string w = e.what();
      BOOST_TEST_MESSAGE(w);
      return w.find(path) != std::string::npos && w.find(what) != std::string::npos;
    });
  };
  const auto remove = [](const char* name) {
    return [name](hid_t f) { BOOST_REQUIRE(H5Ldelete(f, name, H5P_DEFAULT) >= 0); };
  };
  refused(c, as_torch("missing.h5", remove("linear.bias")), "missing 'linear.bias'");
  const auto extra = as_torch("extra.h5", [](hid_t) {});
  h5::file::open(extra, true).write<float>("fc.weight", std::vector<float>(640), {10, 64});
  refused(c, extra, "unexpected 'fc.weight'");
  const auto shape = as_torch("shape.h5", remove("conv1.weight"));
  h5::file::open(shape, true).write<float>("conv1.weight", std::vector<float>(432), {16, 3, 3, 3});
  refused(c, shape, "tensor 'conv1.weight' has shape (16, 3, 3, 3), expected (16, 1, 3, 3)");
  BOOST_TEST(std::equal(before.begin(), before.end(), c.params.begin()));
  // A residual net's file into the plain net: its shortcut tensors are unexpected, and named.
  model<plain20<fashion_input>, float> p(1);
  refused(p, good,
          "unexpected 'layer2.0.shortcut.0.weight', 'layer2.0.shortcut.1.bias', "
          "'layer2.0.shortcut.1.num_batches_tracked' and 9 more");
}

// A checkpoint whose num_batches_tracked holds no value (an empty dataset) or a null dataspace:
// refused with the file and the dataset named, the model unchanged.
BOOST_AUTO_TEST_CASE(checkpoint_with_an_empty_counter_is_refused) {
  model<resnet20<fashion_input>, float> a(1), b(2);
  const std::vector<float> before(b.params.begin(), b.params.end());
  for (const bool null_space : {false, true}) {
    const auto path = temp_path(null_space ? "null_counter.h5" : "empty_counter.h5");
    save_checkpoint(a, path);
    const std::string name = "bn1.num_batches_tracked";  // the counter load_checkpoint reads
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_REQUIRE(f >= 0);
    BOOST_REQUIRE(H5Ldelete(f, name.c_str(), H5P_DEFAULT) >= 0);
    const hsize_t zero = 0;
    const hid_t space = null_space ? H5Screate(H5S_NULL) : H5Screate_simple(1, &zero, nullptr);
    const hid_t d = H5Dcreate2(f, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    BOOST_REQUIRE(d >= 0);
    H5Dclose(d), H5Sclose(space), H5Fclose(f);
    BOOST_CHECK_EXCEPTION(load_checkpoint(b, path), basin::error, [&](const basin::error& e) {
      const std::string w = e.what();
      BOOST_TEST_MESSAGE(w);
      return w.find(path) != std::string::npos && w.find(name) != std::string::npos;
    });
    BOOST_TEST(std::equal(before.begin(), before.end(), b.params.begin()));
  }
  // A counter that is no count (negative, or a fraction stored as float) is refused, not truncated.
  for (const double bad : {-3.0, 2.5}) {
    const auto path = temp_path("bad_counter.h5");
    save_checkpoint(a, path);
    const std::string name = "bn1.num_batches_tracked";
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    BOOST_REQUIRE(f >= 0);
    BOOST_REQUIRE(H5Ldelete(f, name.c_str(), H5P_DEFAULT) >= 0);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t d = H5Dcreate2(f, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    BOOST_REQUIRE(d >= 0);
    BOOST_REQUIRE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &bad) >= 0);
    H5Dclose(d), H5Sclose(space), H5Fclose(f);
    BOOST_CHECK_EXCEPTION(load_checkpoint(b, path), basin::error, [&](const basin::error& e) {
      const std::string w = e.what();
      return w.find(path) != std::string::npos && w.find(name) != std::string::npos &&
             w.find("expected a count of batches") != std::string::npos;
    });
  }
}
