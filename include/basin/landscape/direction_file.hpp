// basin/landscape/direction_file.hpp — direction files in the reference tool's layout.
//
// HDF5 groups `xdirection` and (for planes) `ydirection`, each holding one dataset per tensor
// named "0", "1", ... in the order of PyTorch's parameters() (weights mode) or state_dict()
// (states mode: each batch_norm's weight, bias, running_mean, running_var and a zero
// num_batches_tracked), with PyTorch's shapes: the layout of `net_plotter.write_list`, so the
// reference tool's scripts read basin's directions and the other way round. Root attributes
// record basin's settings (norm, ignore, dir_type, seed, architecture, fingerprint).
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "basin/io/checkpoint.hpp"
#include "basin/landscape/directions.hpp"

namespace basin {

namespace detail {
// The tensors of a direction in the file's order: (is_state, index into the table); index -1
// marks a num_batches_tracked placeholder in states mode.
template <class Model>
std::vector<std::pair<bool, int>> direction_order(bool states) {
  std::vector<std::pair<bool, int>> order;
  const auto& p = Model::param_table;
  const auto& s = Model::state_table;
  std::size_t j = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    order.push_back({false, int(i)});
    const bool last_of_layer = i + 1 == p.size() || p[i + 1].layer != p[i].layer;
    if (!states || !last_of_layer) continue;
    bool any = false;
    while (j < s.size() && s[j].layer == p[i].layer) order.push_back({true, int(j++)}), any = true;
    if (any) order.push_back({true, -1});
  }
  return order;
}
}  // namespace detail

// Writes the directions (y may be null) to path, atomically; `more` may add to the file before
// it is renamed into place (the principal directions' variances: trajectory.hpp; plot_surface's
// dir_source "checkpoints" on the directions between checkpoints).
template <class Model>
void save_directions(const std::string& path, direction<Model>& x, std::type_identity_t<direction<Model>>* y,
                     const direction_options& o, std::uint64_t seed,
                     const std::function<void(h5::file&)>& more = {}) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  const auto order = detail::direction_order<Model>(o.states);
  h5::atomic_write(path, [&](h5::file& f) {
    f.set_attr("/", "format", "basin-directions-1");
    f.set_attr("/", "architecture", Model::architecture());
    f.set_attr("/", "fingerprint", Model::fingerprint());
    f.set_attr("/", "norm", to_string(o.norm));
    f.set_attr("/", "ignore", o.ignore_bias_bn ? "biasbn" : "");
    f.set_attr("/", "dir_type", o.states ? "states" : "weights");
    f.set_attr("/", "seed", seed);
    for (auto [group, d] : {std::pair<const char*, direction<Model>*>{"xdirection", &x}, {"ydirection", y}}) {
      if (!d) continue;
      std::vector<T> p(d->params.size()), s(d->state.size());
      B::download(backend::raw(d->params), index_t(p.size()), p.data());
      B::download(backend::raw(d->state), index_t(s.size()), s.data());
      for (std::size_t k = 0; k < order.size(); ++k) {
        const auto name = std::string(group) + "/" + std::to_string(k);
        const auto [is_state, i] = order[k];
        if (i < 0) {
          f.write_scalar<std::int64_t>(name, 0);
          continue;
        }
        const auto& t = is_state ? Model::state_table[std::size_t(i)] : Model::param_table[std::size_t(i)];
        f.write<T>(name, (is_state ? s.data() : p.data()) + t.offset, detail::torch_shape(t));
      }
    }
    if (more) more(f);
  });
}

// What differs between the settings recorded in an existing direction file (basin's root
// attributes) and those a run would make its directions with: empty when nothing does, or when
// the file records none (the reference tool's files). A random direction depends on every one of
// them, so a run that finds a file made otherwise would silently sweep other directions than it
// asked for; plot_surface refuses with this text. Principal directions (06_trajectory's) are
// compared by ignore and dir_type only; directions between checkpoints (dir_source
// "checkpoints") are no random directions at all. o and seed null: only the kind of file and its
// architecture are compared (directions between checkpoints depend on neither).
template <class Model>
std::string direction_file_mismatch(const std::string& path, const direction_options* o, const std::uint64_t* seed) {
  auto f = h5::file::open(path);
  if (!f.has_attr("/", "format")) return {};
  const auto format = f.attr_string("/", "format");
  if (format != "basin-directions-1") return text("it is a file of format '", format, "', not of directions");
  const auto differs = [&](const char* attr, const std::string& want) -> std::string {
    if (!f.has_attr("/", attr)) return {};
    const auto have = f.attr_string("/", attr);
    return have == want ? std::string() : text("its ", attr, " is '", have, "', this run's '", want, "'");
  };
  const std::string arch = f.has_attr("/", "architecture") ? f.attr_string("/", "architecture") : "";
  if (!arch.empty() && detail::without_weight_type(arch) != detail::without_weight_type(Model::architecture()))
    return text("it holds directions of ", arch, ", this run's net is ", Model::architecture());
  // Principal directions (dir_source "pca", trajectory.hpp) depend on neither norm nor seed: the
  // reference tool's plot_trajectory -> plot_surface workflow sweeps them as they are.
  const std::string source = f.has_attr("/", "dir_source") ? f.attr_string("/", "dir_source") : "";
  const bool pca = source == "pca";
  if (o && source == "checkpoints")
    return "it holds the directions between checkpoints (made with --model_file2), not random ones";
  if (o)
    for (const auto& d :
         {pca ? std::string() : differs("norm", to_string(o->norm)),
          differs("ignore", o->ignore_bias_bn ? "biasbn" : ""), differs("dir_type", o->states ? "states" : "weights")})
      if (!d.empty()) return d;
  if (seed && !pca && f.has_attr("/", "seed") && f.attr_u64("/", "seed") != *seed)
    return text("its seed is ", f.attr_u64("/", "seed"), ", this run's ", *seed);
  return {};
}

// Reads a direction group ("xdirection" or "ydirection") written for this architecture, by
// basin or by the reference tool (weights or states order, detected from the tensor count).
// Throws basin::error naming the file for a missing group, a wrong tensor count or shape.
template <class Model>
direction<Model> load_direction(const std::string& path, const std::string& group) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  auto f = h5::file::open(path);
  require(f.is_group(group), "direction file '", path, "': no group '", group, "'");
  const auto names = f.children(group);
  const auto weights = detail::direction_order<Model>(false), states = detail::direction_order<Model>(true);
  const bool is_states = names.size() == states.size() && states.size() != weights.size();
  require(names.size() == weights.size() || is_states, "direction file '", path, "': group '", group, "' has ",
          names.size(), " tensors but ", Model::architecture(), " has ", weights.size(), " parameters (or ",
          states.size(), " state_dict entries)");
  const auto& order = is_states ? states : weights;
  std::vector<T> p(static_cast<std::size_t>(Model::n_params)), s(static_cast<std::size_t>(Model::n_state));
  for (std::size_t k = 0; k < order.size(); ++k) {
    const auto [is_state, i] = order[k];
    if (i < 0) continue;
    const auto name = group + "/" + std::to_string(k);
    const auto& t = is_state ? Model::state_table[std::size_t(i)] : Model::param_table[std::size_t(i)];
    require(f.is_dataset(name), "direction file '", path, "': tensor '", name, "' is missing (expected shape ",
            h5::detail::dims_string(detail::torch_shape(t)), ")");
    require(f.shape(name) == detail::torch_shape(t), "direction file '", path, "': tensor '", name, "' has shape ",
            h5::detail::dims_string(f.shape(name)), ", expected ", h5::detail::dims_string(detail::torch_shape(t)));
    const auto v = f.read<T>(name);
    for (std::size_t j = 0; j < v.size(); ++j)
      require(std::isfinite(double(v[j])), "direction file '", path, "': tensor '", name, "' holds ", double(v[j]),
              " at element ", j, " (a direction must be finite)");
    std::copy(v.begin(), v.end(), (is_state ? s.begin() : p.begin()) + t.offset);
  }
  direction<Model> d;
  B::upload(p.data(), Model::n_params, backend::raw(d.params));
  B::upload(s.data(), Model::n_state, backend::raw(d.state));
  return d;
}

}  // namespace basin
