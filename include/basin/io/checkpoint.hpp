// basin/io/checkpoint.hpp — model checkpoints in HDF5, laid out as PyTorch's state_dict.
//
// One dataset per tensor at the file's root, named as PyTorch names it for the same zoo net
// ("conv1.weight", "layer2.0.shortcut.1.running_var", ...) with PyTorch's shape, float32 (or
// the model's scalar); "<bn>.num_batches_tracked" as int64 scalars. Root attributes:
//   architecture  the network's name (resnet20, plain56, ...)
//   fingerprint   a hash of every tensor's name, shape and kind and of the input shape
//   epoch, step   where in training the checkpoint was taken (-1 when not from training)
//   format        "basin-checkpoint-1"
// A checkpoint is written to a temporary file and renamed into place, so a crash never leaves
// a half-written file under the final name. Reading one into a model of another architecture
// fails with basin::error naming the file, the expected and the found architecture.
#pragma once

#include <string>
#include <vector>

#include "basin/backend/concepts.hpp"
#include "basin/core/error.hpp"
#include "basin/io/hdf5.hpp"
#include "basin/layers/common.hpp"

namespace basin {

struct checkpoint_info {
  std::string architecture;
  std::uint64_t fingerprint = 0;
  std::int64_t epoch = -1, step = -1;
};

namespace detail {
template <class Table>
std::vector<hsize_t> torch_shape(const Table& d) {
  std::vector<hsize_t> s;
  for (int a = 0; a < d.rank; ++a) s.push_back(hsize_t(d.extent[a]));
  return s;
}
}  // namespace detail

// Writes the model's parameters and batch-norm statistics to path (atomically).
// Throws basin::error when the file cannot be written.
template <class Model>
void save_checkpoint(const Model& m, const std::string& path, std::int64_t epoch = -1, std::int64_t step = -1) {
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
      f.write<T>(pn[i], p.data() + d.offset, detail::torch_shape(d));
    }
    for (std::size_t i = 0; i < sn.size(); ++i) {
      const auto& d = Model::state_table[i];
      f.write<T>(sn[i], s.data() + d.offset, detail::torch_shape(d));
      if (d.kind == param_kind::bn_running_var) {  // one counter per batch_norm, after its var
        const auto stem = sn[i].substr(0, sn[i].size() - std::string("running_var").size());
        f.write_scalar<std::int64_t>(stem + "num_batches_tracked", m.batches_tracked);
      }
    }
  });
}

// Reads the root attributes of a checkpoint. Throws basin::error for a missing file, a file
// that is not HDF5, or one that is not a basin checkpoint.
inline checkpoint_info read_checkpoint_info(const std::string& path) {
  auto f = h5::file::open(path);
  require(f.has_attr("/", "architecture") && f.has_attr("/", "fingerprint"), "checkpoint '", path,
          "': not a basin checkpoint (no architecture/fingerprint attributes)");
  checkpoint_info info;
  info.architecture = f.attr_string("/", "architecture");
  info.fingerprint = f.attr_u64("/", "fingerprint");
  if (f.has_attr("/", "epoch")) info.epoch = f.attr_i64("/", "epoch");
  if (f.has_attr("/", "step")) info.step = f.attr_i64("/", "step");
  return info;
}

// Loads a checkpoint into m. Requires a checkpoint of the same architecture (name and
// fingerprint); ensures params, state and batches_tracked are those of the file; throws
// basin::error naming the file and the mismatch otherwise (m is then left unchanged).
template <class Model>
checkpoint_info load_checkpoint(Model& m, const std::string& path) {
  using T = typename Model::scalar;
  using B = typename Model::backend_type;
  const auto info = read_checkpoint_info(path);
  require(info.architecture == Model::architecture() && info.fingerprint == Model::fingerprint(), "checkpoint '",
          path, "': holds architecture '", info.architecture, "' (fingerprint ", info.fingerprint,
          ") but the model is '", Model::architecture(), "' (fingerprint ", Model::fingerprint(), ")");
  auto f = h5::file::open(path);
  std::vector<T> p(static_cast<std::size_t>(Model::n_params)), s(static_cast<std::size_t>(Model::n_state));
  const auto load = [&](const std::vector<std::string>& names, const auto& table, std::vector<T>& out) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto& d = table[i];
      require(f.is_dataset(names[i]), "checkpoint '", path, "': tensor '", names[i], "' is missing");
      const auto shape = f.shape(names[i]);
      require(shape == detail::torch_shape(d), "checkpoint '", path, "': tensor '", names[i],
              "' has the wrong shape");
      const auto v = f.read<T>(names[i]);
      std::copy(v.begin(), v.end(), out.begin() + d.offset);
    }
  };
  load(Model::parameter_names(), Model::param_table, p);
  load(Model::state_names(), Model::state_table, s);
  std::int64_t tracked = 0;
  const auto sn = Model::state_names();
  if (!sn.empty()) {
    const auto stem = sn[1].substr(0, sn[1].size() - std::string("running_var").size());
    if (f.is_dataset(stem + "num_batches_tracked")) tracked = f.read<std::int64_t>(stem + "num_batches_tracked")[0];
  }
  B::upload(p.data(), Model::n_params, backend::raw(m.params));
  B::upload(s.data(), Model::n_state, backend::raw(m.state));
  m.batches_tracked = tracked;
  return info;
}

}  // namespace basin
