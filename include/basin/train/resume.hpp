// basin/train/resume.hpp — training that writes each finished epoch at once and resumes after a
// crash exactly where it stopped.
//
//   basin::resume_options r{[&](int e) { return out + "/epoch_" + std::to_string(e) + ".h5"; }, "cosine lr 0.1"};
//   const auto run = basin::train_resumable(m, opt, basin::optim::cosine_lr{0.1, 10}, train_set,
//                                           {.epochs = 10}, r, &test_set);
//
// After every epoch the model and the optimizer's state go into r.path(epoch) (a training
// checkpoint, io/checkpoint.hpp). A rerun finds the last epoch on disk, loads the model and the
// optimizer's state and trains the remaining epochs: since each epoch's order, augmentation and
// learning rate are functions of (seed, epoch), the resumed run ends in the same bits as one
// that never stopped (on the host; tests/train checks it). A run whose last epoch is on disk
// trains nothing. The recipe (r.recipe plus the epochs, batch size, seed, augmentation, loss,
// number of images and the data's digest) is stored in each file; a rerun with another recipe is refused, naming
// both, rather than continuing a different run.
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "basin/core/error.hpp"
#include "basin/core/files.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/train/trainer.hpp"

namespace basin {

struct resume_options {
  std::function<std::string(int)> path;  // the checkpoint written after epoch e (1..epochs); one
                                         // name for every epoch keeps the latest only
  std::string recipe;                    // what else defines the run (schedule, optimizer, net)
  bool keep_epochs = true;               // false: an epoch's file is removed once the next one is written
  bool verbose = true;                   // prints what was resumed to stdout
  // Called once a rerun has loaded the checkpoint of epoch e, before it trains on, with the model
  // as it was after epoch e. The epoch's checkpoint is written before on_epoch runs (so that a
  // kill while on_epoch evaluates loses no training); a caller that records each epoch in
  // on_epoch fills in here a record that a kill between the two lost.
  std::function<void(int)> on_resumed = {};
};

struct resumed_training {
  int resumed_after = 0;              // epochs found finished on disk (0: trained from the start)
  bool optimizer_restored = false;    // the file held the optimizer's state (older files do not)
  std::vector<epoch_record> history;  // the epochs trained in this call
};

// The recipe stored in (and checked against) each checkpoint of train_resumable: the caller's
// text, the options, the number of images and, given the data, its digest (data_digest), so that
// another data set of the same size is another run. A file written before recipes named their
// data's digest is taken as this run's when the rest agrees (detail::same_recipe).
inline std::string training_recipe(const std::string& caller, const train_options& o, index_t images) {
  return text(caller, caller.empty() ? "" : "; ", "epochs ", o.epochs, ", batch ", o.batch_size, ", seed ", o.seed,
              o.augment ? ", augmented" : "", ", loss ", criterion_name(o.loss), ", ", images, " images");
}
inline std::string training_recipe(const std::string& caller, const train_options& o, const dataset& data) {
  return training_recipe(caller, o, data.size()) + ", data " + data_digest(data);
}

// Trains o.epochs epochs as train() does, with a training checkpoint after each and resuming
// after the last one found (see the header comment). Requires r.path and o.first_epoch == 0;
// throws basin::error for a checkpoint of another recipe, architecture or optimizer, naming the
// file. on_epoch and on_step run for the epochs trained now. Once it has trained, the model's
// buffers for the training batch are freed (model::release_buffers).
template <class Model, class Optimizer, class Schedule>
resumed_training train_resumable(Model& model, Optimizer&& opt, const Schedule& lr, const dataset& data,
                                 train_options o, const resume_options& r, const dataset* test = nullptr,
                                 const std::function<void(const epoch_record&)>& on_epoch = {},
                                 const std::function<void(int, index_t)>& on_step = {}) {
  require(bool(r.path), "train_resumable: resume_options::path is not set");
  require(o.first_epoch == 0, "train_resumable: first_epoch must be 0 (it finds where to resume), got ", o.first_epoch);
  require(o.epochs >= 0 && o.epochs <= max_epochs, "train_resumable: epochs must be 0 to ", max_epochs, ", got ",
          o.epochs);
  const std::string recipe = training_recipe(r.recipe, o, data);
  resumed_training out;
  for (int e = o.epochs; e >= 1; --e) {
    const auto file = r.path(e);
    if (!path_exists(file, "train_resumable")) continue;
    const auto found = read_checkpoint_info(file).epoch;
    // (a name shared by epochs, "latest.h5", holds the last one written: resumed from there)
    require(found == e || (found >= 1 && found < e && r.path(int(found)) == file), "train_resumable: checkpoint '",
            file, "' was written after epoch ", found, ", expected ", e);
    const auto info = load_training_checkpoint(model, opt, file, recipe);
    out.resumed_after = int(found);
    out.optimizer_restored = info.optimizer_restored;
    if (r.verbose)
      std::printf("resuming after epoch %d of %d from %s%s\n", out.resumed_after, o.epochs, file.c_str(),
                  info.optimizer_restored ? "" : " (no optimizer state in the file: the optimizer starts afresh)");
    if (r.on_resumed) r.on_resumed(out.resumed_after);
    break;
  }
  if (out.resumed_after == o.epochs) return out;
  if (test) detail::require_matches<Model>(*test, "train_resumable (test set)");
  require(!test || o.eval_batch_size >= 1, "train_resumable: eval_batch_size must be at least 1, got ",
          o.eval_batch_size);
  train_options rest = o;
  rest.first_epoch = out.resumed_after;
  rest.epochs = o.epochs - out.resumed_after;
  // Each epoch is written as soon as it is trained, before the test set is evaluated (an error
  // or a kill there loses nothing); train itself gets no test set, the hook evaluates it.
  std::vector<evaluation> tests;
  out.history = train(
      model, opt, lr, data, rest, nullptr,
      [&](const epoch_record& trained) {
        const auto file = r.path(trained.epoch);
        save_training_checkpoint(model, opt, file, trained.epoch, -1, recipe);
        if (!r.keep_epochs && trained.epoch > 1 && r.path(trained.epoch - 1) != file) {
          std::error_code ignored;
          std::filesystem::remove(r.path(trained.epoch - 1), ignored);
        }
        epoch_record rec = trained;
        if (test)
          tests.push_back(rec.test = evaluate(model, *test, o.eval_batch_size, mode::eval, false, nullptr, o.loss));
        if (on_epoch) on_epoch(rec);
      },
      on_step);
  for (std::size_t k = 0; k < tests.size() && k < out.history.size(); ++k) out.history[k].test = tests[k];
  model.release_buffers();  // the training batch's activations: what follows allocates its own
  return out;
}

// How load_or_train treats an existing file that another recipe wrote.
enum class other_recipe {
  refuse,     // a basin::error naming both recipes (the file's results would pass for this run's)
  load_model  // the model alone (a program that takes any checkpoint of the architecture)
};

// The model of a checkpoint file, trained when the file does not exist yet: an existing
// `final_path` is loaded, with the optimizer's state when this recipe wrote it; a plain
// checkpoint (no recipe: save_checkpoint, another program) loads the model alone, and one of
// another recipe is refused or loaded as a model alone, as `others` says. Otherwise train_resumable trains o.epochs
// epochs, writing each epoch's training checkpoint to "<final_path>.epoch<e>.h5" (removed once the next is written) and
// the last to final_path itself, so an interrupted run resumes at its last finished epoch. Returns what train_resumable
// did (resumed_after == o.epochs and no history when the file was loaded). on_epoch runs for
// each epoch trained now, after the test set's evaluation (as train_resumable's): after the
// epoch's checkpoint is written, so an exception from it stops the run with that epoch saved (a
// rerun resumes after it and does not call on_epoch for it again, but on_resumed, as
// resume_options::on_resumed, when it resumes from an epoch's checkpoint; not when it loads
// final_path).
template <class Model, class Optimizer, class Schedule>
resumed_training load_or_train(Model& model, Optimizer&& opt, const Schedule& lr, const dataset& data,
                               const train_options& o, const std::string& final_path, const std::string& recipe,
                               const dataset* test = nullptr, bool verbose = true,
                               other_recipe others = other_recipe::refuse,
                               const std::function<void(const epoch_record&)>& on_epoch = {},
                               const std::function<void(int)>& on_resumed = {}) {
  require(!final_path.empty(), "load_or_train: the checkpoint path is empty");
  resumed_training out;
  if (path_exists(final_path, "load_or_train")) {
    // The optimizer's state too when this very recipe wrote the file (a quantized net's grids
    // and shadow weights are part of what it trained); the model alone from any other checkpoint.
    const auto full = training_recipe(recipe, o, data);
    const auto theirs = read_checkpoint_info(final_path).recipe;
    const bool same = detail::same_recipe(theirs, full);
    require(theirs.empty() || same || others == other_recipe::load_model, "load_or_train: '", final_path,
            "' was written by another run:\n  the file's run: ", theirs, "\n  this run:       ", full,
            "\n(use another output folder, or remove the file to train again)");
    if (same)
      out.optimizer_restored = load_training_checkpoint(model, opt, final_path, full).optimizer_restored;
    else
      load_checkpoint(model, final_path);
    if (verbose) std::printf("loaded %s\n", final_path.c_str());
    out.resumed_after = o.epochs;
    return out;
  }
  const auto parent = std::filesystem::path(final_path).parent_path();
  if (!parent.empty()) make_folder(parent, "load_or_train: the folder of '" + final_path + "'");
  const resume_options r{[&, epochs = o.epochs](int e) {
                           return e == epochs ? final_path : final_path + ".epoch" + std::to_string(e) + ".h5";
                         },
                         recipe, false, verbose, on_resumed};
  return train_resumable(model, opt, lr, data, o, r, test, on_epoch);
}

}  // namespace basin
