// basin/io/checkpoint.hpp — model checkpoints in HDF5, laid out as PyTorch's state_dict.
//
// One dataset per tensor at the file's root, named as PyTorch names it for the same zoo net
// ("conv1.weight", "layer2.0.shortcut.1.running_var", ...) with PyTorch's shape, float32 (or
// the model's scalar); "<bn>.num_batches_tracked" as int64 scalars. Root attributes:
//   architecture  the network's name (resnet20, plain56, ...)
//   fingerprint   a hash of every tensor's name, shape and kind and of the input shape
//   epoch, step   where in training the checkpoint was taken (-1 when not from training)
//   format        "basin-checkpoint-1"
// Packed checkpoints (save_packed_checkpoint) store each quantized weight tensor as its packed
// levels instead (weights/packing.hpp): a uint8 dataset of ceil(n * bits / 8) bytes under the
// same name, with attributes packed_bits, grid_delta, grid_lo, grid_hi, grid_binary, numel and
// shape ("16,1,3,3"); a binary net's file is about 1/32 of the float one. load_checkpoint reads
// both kinds into any model of the architecture, dequantizing packed tensors exactly.
// Every checkpoint also keeps the grid of each layer of a quantized weight type (binary,
// integer<b>) that has one, as float64 attributes layer_grid_delta, layer_grid_lo, layer_grid_hi
// and int64 layer_grid_binary of its weight tensor; load_checkpoint gives it back to a layer of
// the same bits (a packed tensor's grid_* where a file has no layer_grid_*), and any other
// quantized layer forgets its grid, so that it takes one from the loaded weights, as a fresh one.
// Training checkpoints (save_training_checkpoint) add the optimizer's state in the group
// "optimizer", laid out as PyTorch's optimizer state_dict per parameter:
//   optimizer/<slot>/<parameter name>   one tensor per parameter and slot (momentum_buffer;
//                                       exp_avg, exp_avg_sq; a BinaryConnect net's shadow)
//   optimizer/grids                     float64 (k, 6): offset, size, delta, lo, hi, binary of
//                                       each quantized tensor's grid (quantized optimizers)
// with attributes format ("basin-optimizer-1"), kind ("sgd", "adam", "quantized sgd", ...),
// scalar ("float32" or "float64"), steps, slots and settings (names, comma-separated, in order) and one float64
// attribute per setting; the root attribute "recipe" (when given) describes the run, so that a resumed run with other
// settings is refused. Readers of plain checkpoints ignore the group. A checkpoint is written to a temporary file and
// renamed into place, so a crash never leaves a half-written file under the final name. Reading one into a model of
// another architecture fails with basin::error naming the file, the expected and the found architecture.
//
// PyTorch's own checkpoints: examples/torch_to_basin.py writes a state_dict (from torch.save of a
// state_dict, of a dict holding one, or of a module; DataParallel's "module." prefix removed) as
// one dataset per tensor with the root attribute format "torch-state-dict-1" and no architecture.
// load_checkpoint reads such a file into a zoo net whose tensors have the same names and shapes
// (the reference tool's ResNet, plain net, VGG-9 and DenseNet definitions), as PyTorch's strict
// load_state_dict does: a missing tensor, an unexpected one or a wrong shape is a basin::error
// naming the tensor (a missing num_batches_tracked counts 0, as in PyTorch).
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"
#include "basin/io/hdf5.hpp"
#include "basin/layers/common.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/weights/packing.hpp"

namespace basin {

struct checkpoint_info {
  std::string architecture;  // empty for a PyTorch state_dict
  std::uint64_t fingerprint = 0;
  std::int64_t epoch = -1, step = -1;
  std::string recipe;  // the run's description (training checkpoints), empty when none was saved
  bool from_torch = false;  // a PyTorch state_dict converted by examples/torch_to_basin.py
};

// The root attribute "format" of a PyTorch state_dict converted by examples/torch_to_basin.py.
inline constexpr const char* torch_state_dict_format = "torch-state-dict-1";

namespace detail {
template <class Table>
std::vector<hsize_t> torch_shape(const Table& d) {
  std::vector<hsize_t> s;
  for (int a = 0; a < d.rank; ++a) s.push_back(hsize_t(d.extent[a]));
  return s;
}
}  // namespace detail

namespace detail {
// The parameter table's index of each weight tensor, in order: that of the k-th conv or dense
// layer (model::for_each_weight_layer's k).
template <class Model>
std::vector<std::size_t> weight_tensors() {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < Model::param_table.size(); ++i)
    if (Model::param_table[i].kind == param_kind::weight) out.push_back(i);
  return out;
}

// The batch-norm counter stored after a running variance: "<bn>.running_var" -> "<bn>.num_batches_tracked".
inline std::string counter_name(const std::string& running_var) {
  return running_var.substr(0, running_var.size() - std::string("running_var").size()) + "num_batches_tracked";
}

inline std::string shape_text(const std::vector<hsize_t>& s) {
  std::string t;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) t += ',';
    t += std::to_string(s[i]);
  }
  return t;
}

// Writes the checkpoint; packed(i, name, values, file) may write parameter tensor i itself
// (returning true) instead of the plain dataset; extra(file) adds to the file before it is closed.
template <class Model, class Packed, class Extra = void (*)(h5::file&)>
void write_checkpoint(
    const Model& m, const std::string& path, std::int64_t epoch, std::int64_t step, Packed&& packed,
    Extra&& extra = [](h5::file&) {}) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  std::vector<T> p(static_cast<std::size_t>(Model::n_params)), s(static_cast<std::size_t>(Model::n_state));
  B::download(backend::raw(const_cast<Model&>(m).params), Model::n_params, p.data());
  B::download(backend::raw(const_cast<Model&>(m).state), Model::n_state, s.data());
  const auto pn = Model::parameter_names(), sn = Model::state_names();
  h5::atomic_write(path, [&](h5::file& f) {
    f.set_attr("/", "format", "basin-checkpoint-1");
    f.set_attr("/", "architecture", Model::architecture());
    f.set_attr("/", "fingerprint", Model::fingerprint());
    f.set_attr("/", "epoch", epoch);
    f.set_attr("/", "step", step);
    for (std::size_t i = 0; i < pn.size(); ++i) {
      const auto& d = Model::param_table[i];
      if (!packed(i, pn[i], p.data() + d.offset, f)) f.write<T>(pn[i], p.data() + d.offset, detail::torch_shape(d));
    }
    // Each quantized layer's grid, on its weight tensor (the layer keeps it from its first pack or
    // a quantized optimizer; derived again from other weights it would round them elsewhere).
    const auto weights = weight_tensors<Model>();
    const_cast<Model&>(m).for_each_weight_layer([&](auto& l, std::size_t k) {
      using L = std::remove_cvref_t<decltype(l)>;
      if constexpr (L::quantized) {
        if (!l.store.packed.has_grid()) return;
        const auto& g = l.store.packed.grid();
        const std::string& name = pn[weights.at(k)];
        f.set_attr(name, "layer_grid_delta", g.delta);
        f.set_attr(name, "layer_grid_lo", g.lo);
        f.set_attr(name, "layer_grid_hi", g.hi);
        f.set_attr(name, "layer_grid_binary", std::int64_t(g.binary ? 1 : 0));
      }
    });
    for (std::size_t i = 0; i < sn.size(); ++i) {
      const auto& d = Model::state_table[i];
      f.write<T>(sn[i], s.data() + d.offset, detail::torch_shape(d));
      if (d.kind == param_kind::bn_running_var)  // one counter per batch_norm, after its var
        f.write_scalar<std::int64_t>(counter_name(sn[i]), m.batches_tracked);
    }
    extra(f);
  });
}
}  // namespace detail

// Writes the model's parameters and batch-norm statistics to path (atomically), as they are:
// a diverged net's NaN weights too (a record of what happened, as 10_dcgan keeps a collapsed
// run), which load_checkpoint then refuses, naming the tensor and the value.
// Throws basin::error when the file cannot be written or path names no file.
template <class Model>
void save_checkpoint(const Model& m, const std::string& path, std::int64_t epoch = -1, std::int64_t step = -1) {
  detail::write_checkpoint(m, path, epoch, step, [](std::size_t, const std::string&, const auto*, h5::file&) {
    return false;
  });
}

// As save_checkpoint, with every weight tensor that has a grid in `grids` (items with offset,
// size and grid g, such as optim::quantized_optimizer::grids()) stored packed. Requires those
// tensors' values on their grids; throws basin::error naming the tensor and the value otherwise.
template <class Model, class Grids>
void save_packed_checkpoint(const Model& m, const std::string& path, const Grids& grids, std::int64_t epoch = -1,
                            std::int64_t step = -1) {
  // A grid that starts no parameter tensor (another model's, or off by one) would be skipped and
  // its tensor stored as floats: refused before anything is written.
  std::size_t k = 0;
  for (const auto& tg : grids) {
    bool starts = false;
    for (const auto& d : Model::param_table) starts = starts || d.offset == tg.offset;
    require(starts, "save_packed_checkpoint: '", path, "': grids[", k, "] has offset ", tg.offset,
            ", expected the offset of one of the model's parameter tensors (", Model::n_params, " values)");
    ++k;
  }
  detail::write_checkpoint(m, path, epoch, step, [&](std::size_t i, const std::string& name, const auto* w, h5::file& f) {
    const auto& d = Model::param_table[i];
    for (const auto& tg : grids) {
      if (tg.offset != d.offset) continue;
      require(tg.size == d.size(), "save_packed_checkpoint: the grid at offset ", tg.offset, " covers ", tg.size,
              " values but tensor '", name, "' has ", d.size());
      const auto bytes = quant::pack(w, d.size(), tg.g, name);
      f.write<std::uint8_t>(name, bytes.data(), {hsize_t(bytes.size())});
      f.set_attr(name, "packed_bits", std::int64_t(quant::bits_of(tg.g)));
      f.set_attr(name, "grid_delta", tg.g.delta);
      f.set_attr(name, "grid_lo", tg.g.lo);
      f.set_attr(name, "grid_hi", tg.g.hi);
      f.set_attr(name, "grid_binary", std::int64_t(tg.g.binary ? 1 : 0));
      f.set_attr(name, "numel", std::int64_t(d.size()));
      f.set_attr(name, "shape", detail::shape_text(detail::torch_shape(d)));
      return true;
    }
    return false;
  });
}

// The grids of a model's layers of quantized weight types (weights::binary, weights::integer<b>),
// in the form save_packed_checkpoint and stored_bytes take: save_packed_checkpoint(m, path,
// layer_grids(m)) stores such a net packed when m.params lie on them, as a quantized optimizer
// keeps them (after a forward pass alone the layers have grids but the float weights are not on
// them, and save_packed_checkpoint refuses them, naming the first). Requires the grids fixed (a
// forward pass or a quantized optimizer); throws basin::error otherwise.
template <class Model>
std::vector<quant::tensor_grid> layer_grids(Model& m) {
  std::vector<index_t> offsets;
  for (const auto& d : Model::param_table)
    if (d.kind == param_kind::weight) offsets.push_back(d.offset);
  std::vector<quant::tensor_grid> out;
  m.for_each_weight_layer([&](auto& l, std::size_t k) {
    using L = std::remove_cvref_t<decltype(l)>;
    if constexpr (L::quantized) {
      require(l.store.packed.has_grid(), "layer_grids: the quantized layer holding weight tensor ", k,
              " has no grid yet; run a forward pass or construct a quantized optimizer first");
      out.push_back({offsets.at(k), L::params()[0].size(), l.store.packed.grid()});
    }
  });
  return out;
}

// Bytes of a model's parameters and statistics as stored: weights with a grid in `grids` at
// their packed size, everything else at sizeof(scalar) (file headers not counted).
template <class Model, class Grids>
index_t stored_bytes(const Grids& grids) {
  index_t bytes = (Model::n_params + Model::n_state) * index_t(sizeof(typename Model::scalar));
  for (const auto& tg : grids)
    bytes += (tg.size * quant::bits_of(tg.g) + 7) / 8 - tg.size * index_t(sizeof(typename Model::scalar));
  return bytes;
}

// Reads the root attributes of a checkpoint. Throws basin::error for a missing file, a file
// that is not HDF5, or one that is not a basin checkpoint.
inline checkpoint_info read_checkpoint_info(const std::string& path) {
  auto f = h5::file::open(path);
  checkpoint_info info;
  // Surface and direction files carry an architecture and fingerprint too: their format tells them apart.
  if (f.has_attr("/", "format")) {
    const auto format = f.attr_string("/", "format");
    if (format == torch_state_dict_format) {
      info.from_torch = true;
      if (f.has_attr("/", "epoch")) info.epoch = f.attr_i64("/", "epoch");
      return info;
    }
    require(format == "basin-checkpoint-1", "checkpoint '", path, "': a file of format '", clipped(format),
            "', expected 'basin-checkpoint-1' (or '", torch_state_dict_format, "')");
  }
  require(f.has_attr("/", "architecture") && f.has_attr("/", "fingerprint"), "checkpoint '", path,
          "': not a basin checkpoint (no architecture/fingerprint attributes; a PyTorch checkpoint loads once "
          "examples/torch_to_basin.py has converted it)");
  info.architecture = f.attr_string("/", "architecture");
  info.fingerprint = f.attr_u64("/", "fingerprint");
  if (f.has_attr("/", "epoch")) info.epoch = f.attr_i64("/", "epoch");
  if (f.has_attr("/", "step")) info.step = f.attr_i64("/", "step");
  if (f.has_attr("/", "recipe")) info.recipe = f.attr_string("/", "recipe");
  return info;
}

namespace detail {
// An architecture's name without its weight type ("resnet20_binary", "resnet20_int4" ->
// "resnet20"): the weight type does not change the parameter layout.
inline std::string without_weight_type(const std::string& name) {
  if (name.size() > 7 && name.compare(name.size() - 7, 7, "_binary") == 0) return name.substr(0, name.size() - 7);
  const auto at = name.rfind("_int");
  if (at != std::string::npos && at + 4 < name.size() &&
      name.find_first_not_of("0123456789", at + 4) == std::string::npos)
    return name.substr(0, at);
  return name;
}

template <class Model>
void require_architecture(const checkpoint_info& info, const std::string& path) {
  require(without_weight_type(info.architecture) == without_weight_type(Model::architecture()) &&
              info.fingerprint == Model::fingerprint(),
          "checkpoint '", path, "': holds architecture '", clipped(info.architecture), "' (fingerprint ",
          info.fingerprint, ") but the model is '", Model::architecture(), "' (fingerprint ", Model::fingerprint(),
          ")");
}
}  // namespace detail

namespace detail {
// A converted PyTorch state_dict holds exactly the model's tensors, as PyTorch's strict
// load_state_dict requires; a batch norm's num_batches_tracked may be missing (PyTorch then
// takes 0, as for state_dicts saved before it had the counter, and so does load_checkpoint).
template <class Model>
void require_same_tensors(const h5::file& f, const std::string& path) {
  std::vector<std::string> expected = Model::parameter_names(), counters;
  const auto sn = Model::state_names();
  expected.insert(expected.end(), sn.begin(), sn.end());
  for (std::size_t i = 0; i < sn.size(); ++i)
    if (Model::state_table[i].kind == param_kind::bn_running_var) counters.push_back(counter_name(sn[i]));
  std::vector<std::string> missing, unexpected;
  const auto found = f.children("/");
  const auto in = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  for (const auto& e : expected)
    if (!in(found, e)) missing.push_back(e);
  for (const auto& n : found)
    if (!in(expected, n) && !in(counters, n)) unexpected.push_back(n);
  const auto some = [](const std::vector<std::string>& v) {
    std::string t;
    for (std::size_t i = 0; i < v.size() && i < 3; ++i) t += (i ? ", '" : "'") + v[i] + "'";
    return v.size() > 3 ? t + " and " + std::to_string(v.size() - 3) + " more" : t;
  };
  require(missing.empty() && unexpected.empty(), "checkpoint '", path, "': a PyTorch state_dict that does not fit ",
          Model::architecture(), " (", expected.size() + counters.size(), " tensors)",
          missing.empty() ? "" : ": missing ", some(missing), unexpected.empty() ? "" : "; unexpected ",
          some(unexpected));
}
}  // namespace detail

// Loads a checkpoint into m. Requires a checkpoint of the same architecture (name, up to the
// weight type, and fingerprint: a binary resnet20's checkpoint loads into a real resnet20 and
// back), or a PyTorch state_dict converted by examples/torch_to_basin.py with exactly the model's
// tensors (names and shapes); ensures params, state and batches_tracked are those of the file;
// throws basin::error naming the file and the mismatch otherwise (m is then left unchanged).
template <class Model>
checkpoint_info load_checkpoint(Model& m, const std::string& path) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  const auto info = read_checkpoint_info(path);
  auto f = h5::file::open(path);
  if (info.from_torch)
    detail::require_same_tensors<Model>(f, path);
  else
    detail::require_architecture<Model>(info, path);
  std::vector<T> p(static_cast<std::size_t>(Model::n_params)), s(static_cast<std::size_t>(Model::n_state));
  // The grid of each weight tensor's quantized layer as saved (layer_grid_*), or for a packed
  // tensor of a file without them its packing grid.
  std::vector<std::optional<quant::grid>> grids(Model::param_table.size());
  const auto read_grid = [&](const std::string& name, const char* prefix) {
    const std::string pre = prefix;
    quant::grid g;
    g.delta = f.attr_double(name, pre + "delta");
    g.lo = f.attr_double(name, pre + "lo");
    g.hi = f.attr_double(name, pre + "hi");
    const auto binary = f.attr_i64(name, pre + "binary");
    require(binary == 0 || binary == 1, "checkpoint '", path, "': tensor '", name, "' has ", pre, "binary ", binary,
            ", expected 0 (an integer grid) or 1 (binary)");
    g.binary = binary == 1;
    const auto problem = quant::grid_problem(g);
    require(problem.empty(), "checkpoint '", path, "': tensor '", name, "', its ", pre, "*: ", problem);
    return g;
  };
  const auto load = [&](const std::vector<std::string>& names, const auto& table, std::vector<T>& out,
                        bool parameters) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto& d = table[i];
      require(f.is_dataset(names[i]), "checkpoint '", path, "': tensor '", names[i], "' is missing");
      if (parameters && f.has_attr(names[i], "layer_grid_delta")) grids[i] = read_grid(names[i], "layer_grid_");
      if (f.has_attr(names[i], "packed_bits")) {  // packed levels: dequantized exactly
        quant::grid g;
        g.delta = f.attr_double(names[i], "grid_delta");
        g.lo = f.attr_double(names[i], "grid_lo");
        g.hi = f.attr_double(names[i], "grid_hi");
        const auto binary = f.attr_i64(names[i], "grid_binary");
        require(binary == 0 || binary == 1, "checkpoint '", path, "': packed tensor '", names[i], "' has grid_binary ",
                binary, ", expected 0 (an integer grid) or 1 (binary)");
        g.binary = binary == 1;
        const auto problem = quant::grid_problem(g);
        require(problem.empty(), "checkpoint '", path, "': packed tensor '", names[i], "': ", problem);
        if (parameters && !grids[i]) grids[i] = g;
        require(f.attr_i64(names[i], "numel") == d.size() &&
                    f.attr_string(names[i], "shape") == detail::shape_text(detail::torch_shape(d)) &&
                    f.attr_i64(names[i], "packed_bits") == quant::bits_of(g),
                "checkpoint '", path, "': packed tensor '", names[i], "' has the wrong shape or bits (shape ",
                f.attr_string(names[i], "shape"), ", expected ", detail::shape_text(detail::torch_shape(d)),
                "; packed_bits ", f.attr_i64(names[i], "packed_bits"), ", the grid's ", quant::bits_of(g), ")");
        const auto bytes = (d.size() * quant::bits_of(g) + 7) / 8;
        require(f.shape(names[i]) == std::vector<hsize_t>{hsize_t(bytes)}, "checkpoint '", path, "': packed tensor '",
                names[i], "' has shape ", h5::detail::dims_string(f.shape(names[i])), ", expected (", bytes,
                ",): its bytes");
        f.require_stores<std::uint8_t>(names[i], "read packed tensor");  // (other types would clamp into bytes)
        quant::unpack(f.read<std::uint8_t>(names[i]), d.size(), g, out.data() + d.offset,
                      "checkpoint '" + path + "' tensor '" + names[i] + "'");
        continue;
      }
      const auto shape = f.shape(names[i]);
      require(shape == detail::torch_shape(d), "checkpoint '", path, "': tensor '", names[i], "' has shape ",
              h5::detail::dims_string(shape), ", expected ", h5::detail::dims_string(detail::torch_shape(d)));
      const auto v = f.read<T>(names[i]);
      // Values that no training leaves: refused here, naming them, rather than found later as a
      // NaN loss blamed on divergence (a variance below 0 makes every eval-mode output NaN).
      const bool variance = names[i].ends_with("running_var");
      for (std::size_t k = 0; k < v.size(); ++k)
        require(std::isfinite(double(v[k])) && !(variance && v[k] < T(0)), "checkpoint '", path, "': tensor '",
                names[i], "' holds ", double(v[k]), " at flat index ", k, ", expected ",
                variance ? "a finite variance >= 0" : "finite values");
      std::copy(v.begin(), v.end(), out.begin() + d.offset);
    }
  };
  load(Model::parameter_names(), Model::param_table, p, true);
  load(Model::state_names(), Model::state_table, s, false);
  // basin keeps one count of training batches for the whole net (PyTorch's per-layer counters all
  // move together in training): it is read from the first batch norm's num_batches_tracked, the
  // others are not read.
  std::int64_t tracked = 0;
  const auto sn = Model::state_names();
  if (!sn.empty()) {
    const auto nb = detail::counter_name(sn[1]);
    if (f.is_dataset(nb)) {
      const auto shape = f.shape(nb);
      require(shape.empty() || shape == std::vector<hsize_t>{1}, "checkpoint '", path, "': '", nb, "' has shape ",
              h5::detail::dims_string(shape), ", expected one integer (shape () or (1,))");
      const auto v = f.read<double>(nb);  // (as stored: a float or negative count is refused, not truncated)
      require(v.size() == 1 && v[0] >= 0 && v[0] == std::floor(v[0]) && v[0] < 9.2e18, "checkpoint '", path, "': '", nb,
              "' is ", v.empty() ? NAN : v[0], ", expected a count of batches (a whole number >= 0)");
      tracked = std::int64_t(v[0]);
    }
  }
  B::upload(p.data(), Model::n_params, backend::raw(m.params));
  B::upload(s.data(), Model::n_state, backend::raw(m.state));
  m.batches_tracked = tracked;
  // Quantized layers take the file's grid where it has one of their bits, and otherwise forget
  // theirs (a grid from earlier weights would round these elsewhere): the next pack takes one
  // from the loaded weights.
  const auto weights = detail::weight_tensors<Model>();
  m.for_each_weight_layer([&](auto& l, std::size_t k) {
    using L = std::remove_cvref_t<decltype(l)>;
    if constexpr (L::quantized) {
      const auto& g = grids[weights.at(k)];
      if (g && g->binary == (l.store.packed.bits() == 1) && quant::bits_of(*g) == l.store.packed.bits())
        l.store.packed.set_grid(*g, "load_checkpoint");
      else
        l.store.packed.reset_grid();
    }
  });
  return info;
}

namespace detail {
template <class Opt>
using optimizer_scalar =
    typename decltype(std::declval<const Opt&>().save_state().slots)::value_type::second_type::value_type;

inline std::string joined_names(const auto& pairs) {
  std::string t;
  for (const auto& p : pairs) t += (t.empty() ? "" : ",") + p.first;
  return t;
}
inline std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::size_t a = 0;
  while (a < s.size()) {
    const auto b = std::min(s.find(',', a), s.size());
    out.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return out;
}

// Writes an optimizer's state under "optimizer" (see the header comment).
template <class Model, class T>
void write_optimizer_state(h5::file& f, const optim::optimizer_state<T>& st) {
  f.create_group("optimizer");
  f.set_attr("optimizer", "format", "basin-optimizer-1");
  f.set_attr("optimizer", "kind", st.kind);
  f.set_attr("optimizer", "steps", st.steps);
  f.set_attr("optimizer", "scalar", h5::detail::type_of<T>::name);
  f.set_attr("optimizer", "settings", joined_names(st.settings));
  f.set_attr("optimizer", "slots", joined_names(st.slots));
  for (const auto& [name, value] : st.settings) f.set_attr("optimizer", name, value);
  const auto pn = Model::parameter_names();
  for (const auto& [slot, values] : st.slots) {
    require(index_t(values.size()) == Model::n_params, "save_training_checkpoint: optimizer slot '", slot, "' holds ",
            values.size(), " values, the model ", Model::n_params, " parameters");
    for (std::size_t i = 0; i < pn.size(); ++i) {
      const auto& d = Model::param_table[i];
      f.write<T>("optimizer/" + slot + "/" + pn[i], values.data() + d.offset, torch_shape(d));
    }
  }
  if (!st.grids.empty()) {
    std::vector<double> g;
    for (const auto& tg : st.grids)
      g.insert(g.end(), {double(tg.offset), double(tg.size), tg.g.delta, tg.g.lo, tg.g.hi, tg.g.binary ? 1.0 : 0.0});
    f.write<double>("optimizer/grids", g, {hsize_t(st.grids.size()), 6});
  }
}

// Reads the state written by write_optimizer_state; throws basin::error naming the file and what
// is missing or malformed.
template <class Model, class T>
optim::optimizer_state<T> read_optimizer_state(const h5::file& f, const std::string& path) {
  const auto bad = [&](const auto&... why) { fail("training checkpoint '", path, "': optimizer state ", why...); };
  if (!f.is_group("optimizer")) bad("is not a group");
  for (const char* a : {"format", "kind", "steps", "settings", "slots", "scalar"})
    if (!f.has_attr("optimizer", a)) bad("has no attribute '", a, "'");
  if (f.attr_string("optimizer", "format") != "basin-optimizer-1")
    bad("has format '", clipped(f.attr_string("optimizer", "format")), "', expected 'basin-optimizer-1'");
  // The slots' scalar: a float run's state continued in double (or back) would not be the same
  // run, bit for bit.
  if (f.has_attr("optimizer", "scalar") && f.attr_string("optimizer", "scalar") != h5::detail::type_of<T>::name)
    bad("holds ", clipped(f.attr_string("optimizer", "scalar")), " values, the optimizer keeps ",
        h5::detail::type_of<T>::name);
  optim::optimizer_state<T> st;
  st.kind = f.attr_string("optimizer", "kind");
  st.steps = f.attr_i64("optimizer", "steps");
  if (st.steps < 0 || st.steps > optim::max_optimizer_steps) bad("has ", st.steps, " steps, expected 0 to 2^53 - 1");
  for (const auto& name : split_names(f.attr_string("optimizer", "settings"))) {
    if (!f.has_attr("optimizer", name)) bad("lists setting '", clipped(name), "' but has no such attribute");
    st.settings.emplace_back(name, f.attr_double("optimizer", name));
  }
  const auto pn = Model::parameter_names();
  for (const auto& slot : split_names(f.attr_string("optimizer", "slots"))) {
    std::vector<T> values(static_cast<std::size_t>(Model::n_params));
    for (std::size_t i = 0; i < pn.size(); ++i) {
      const auto& d = Model::param_table[i];
      const auto name = "optimizer/" + slot + "/" + pn[i];
      if (!f.is_dataset(name)) bad("has no tensor '", name, "'");
      if (f.shape(name) != torch_shape(d))
        bad("tensor '", name, "' has shape (", shape_text(f.shape(name)), "), expected (", shape_text(torch_shape(d)),
            ")");
      const auto v = f.read<T>(name);
      // (Adam's second moments are squares: one below 0 would make its step NaN)
      const bool square = slot == "exp_avg_sq";
      for (std::size_t k = 0; k < v.size(); ++k)
        if (!std::isfinite(double(v[k])) || (square && v[k] < T(0)))
          bad("tensor '", name, "' holds ", double(v[k]), " at flat index ", k, ", expected ",
              square ? "a finite value >= 0" : "finite values");
      std::copy(v.begin(), v.end(), values.begin() + d.offset);
    }
    st.slots.emplace_back(slot, std::move(values));
  }
  if (f.is_dataset("optimizer/grids")) {
    const auto shape = f.shape("optimizer/grids");
    if (shape.size() != 2 || shape[1] != 6 || shape[0] > hsize_t(Model::n_params))
      bad("grids have shape (", shape_text(shape), "), expected (k,6) with k at most the model's ", Model::n_params,
          " values");
    const auto g = f.read<double>("optimizer/grids");
    for (std::size_t k = 0; k < shape[0]; ++k) {
      const double* r = g.data() + 6 * k;
      if (!(r[0] >= 0 && r[1] >= 1 && r[0] + r[1] <= double(Model::n_params) && r[0] == std::floor(r[0]) &&
            r[1] == std::floor(r[1])))
        bad("grid ", k, " covers values [", r[0], ", ", r[0] + r[1], "), outside the model's ", Model::n_params);
      st.grids.push_back({index_t(r[0]), index_t(r[1]), quant::grid{r[2], r[3], r[4], r[5] != 0}});
    }
  }
  return st;
}
}  // namespace detail

// What load_training_checkpoint found.
struct training_checkpoint_info : checkpoint_info {
  bool optimizer_restored = false;  // false: the file holds no optimizer state (a plain checkpoint)
};

// A checkpoint (as save_checkpoint) plus the optimizer's state: opt is optim::optimizer<...> or
// optim::quantized_optimizer<...>. `recipe` (optional) describes the run (schedule, epochs, batch,
// seed, ...) so that load_training_checkpoint can refuse to continue a different one. Written
// atomically. Throws basin::error when the file cannot be written.
template <class Model, class Opt>
void save_training_checkpoint(const Model& m, const Opt& opt, const std::string& path, std::int64_t epoch,
                              std::int64_t step = -1, const std::string& recipe = {}) {
  const auto st = opt.save_state();
  detail::write_checkpoint(
      m, path, epoch, step, [](std::size_t, const std::string&, const auto*, h5::file&) { return false; },
      [&](h5::file& f) {
        detail::write_optimizer_state<Model>(f, st);
        if (!recipe.empty()) f.set_attr("/", "recipe", recipe);
      });
}

namespace detail {
// Whether a file's recipe is this run's: equal, or written before recipes ended with their data's
// digest (", data <16 hex digits>", train/resume.hpp) and equal to this one without it.
inline bool same_recipe(const std::string& file, const std::string& run) {
  if (file == run) return true;
  const auto at = run.rfind(", data ");
  return at != std::string::npos && run.size() == at + 7 + 16 && file.find(", data ") == std::string::npos &&
         file == run.substr(0, at);
}
}  // namespace detail

// Loads a checkpoint into m and, when the file holds one, the optimizer's state into opt, so
// that training continues exactly as if it had not stopped (same steps, momentum, moments,
// grids, shadow weights). Requires the model's architecture, the optimizer's kind and settings,
// and (when both are given) the recipe to be the file's; throws basin::error naming the file and
// the difference otherwise, leaving m and opt unchanged. A plain checkpoint, or a converted
// PyTorch state_dict, loads the model only (optimizer_restored false: the optimizer keeps its state).
template <class Model, class Opt>
training_checkpoint_info load_training_checkpoint(Model& m, Opt& opt, const std::string& path,
                                                  const std::string& recipe = {}) {
  using T = detail::optimizer_scalar<Opt>;
  training_checkpoint_info out;
  std::optional<optim::optimizer_state<T>> st;
  {
    static_cast<checkpoint_info&>(out) = read_checkpoint_info(path);
    if (!out.from_torch) detail::require_architecture<Model>(out, path);  // (else load_checkpoint checks tensors)
    auto f = h5::file::open(path);
    require(recipe.empty() || out.recipe.empty() || detail::same_recipe(out.recipe, recipe), "training checkpoint '",
            path, "' was written by another run:\n  the file's run: ", out.recipe, "\n  this run:       ", recipe,
            "\n(use another output folder, or remove this run's checkpoints to start again)");
    if (!out.from_torch && f.has("optimizer")) st = detail::read_optimizer_state<Model, T>(f, path);
  }
  if (!st) {
    static_cast<checkpoint_info&>(out) = load_checkpoint(m, path);
    return out;
  }
  const auto before = opt.save_state();
  const auto restore = [&](const optim::optimizer_state<T>& s) {
    if constexpr (requires { opt.load_state(m, s); })
      opt.load_state(m, s);
    else
      opt.load_state(s);
  };
  try {
    restore(*st);
  } catch (const error& e) {
    restore(before);  // a state refused part-way (a quantized net's grids) is undone
    fail("training checkpoint '", path, "': ", e.what());
  }
  try {
    static_cast<checkpoint_info&>(out) = load_checkpoint(m, path);
  } catch (...) {
    restore(before);
    throw;
  }
  out.optimizer_restored = true;
  return out;
}

}  // namespace basin
