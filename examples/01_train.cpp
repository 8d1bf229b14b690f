// examples/01_train.cpp — train resnet20 on Fashion-MNIST and report test accuracy.
//
// The first teaching example: a network is a type, the model holds one flat parameter buffer,
// the trainer walks the real Fashion-MNIST data from Debian's dataset-fashion-mnist package,
// and a checkpoint is written after every epoch (PyTorch state_dict names, HDF5), so the later
// examples can draw the landscape around the trained minimizer.
//
//   01_train [--epochs 6] [--batch 128] [--lr 0.1] [--wd 5e-4] [--seed 1] [--augment]
//            [--train-subset N] [--data /usr/share/datasets/fashion-mnist] [--out resnet20_fmnist]
//            [--loss_name crossentropy|mse]
//
// --loss_name mse trains on the mean squared error of the softmax against the one-hot label, as
// the reference tool's cifar10/main.py does with that flag (default --out resnet20_fmnist_mse).
//
// Writes <out>/epoch_0.h5 (the initialization), <out>/epoch_<k>.h5 after each epoch (with the
// optimizer's momentum) and <out>/final.h5 at the end; rerunning with the same --out resumes after
// the last finished epoch, exactly. The epochs' files are a training path for plot_trajectory:
//   plot_trajectory --model resnet20 --model_folder resnet20_fmnist --prefix epoch_ --max_epoch 6
#include <cstdio>
#include <filesystem>
#include <string>

#include "basin/core/files.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

int main(int argc, char** argv) try {
  basin::examples::cli args(argc, argv);
  const int epochs = args.get("epochs", 6);
  const long batch = args.get("batch", 128L);
  const double lr = args.get("lr", 0.1), wd = args.get("wd", 5e-4);
  const auto seed = std::uint64_t(args.get("seed", 1L));
  const long subset = args.get("train-subset", 0L, "0: all 60000");
  const bool augment = args.flag("augment");
  const std::string data_dir = args.get("data", std::string("/usr/share/datasets/fashion-mnist"));
  const auto loss =
      basin::criterion_from_name(args.get("loss_name", std::string("crossentropy")), "option --loss_name");
  const bool mse = loss == basin::criterion::mse;
  const std::string out = args.get("out", std::string(mse ? "resnet20_fmnist_mse" : "resnet20_fmnist"),
                                   "resnet20_fmnist, resnet20_fmnist_mse with --loss_name mse");
  if (!args.done()) return 0;  // --help
  basin::require(epochs >= 1 && batch >= 1, "options --epochs, --batch: expected at least 1, got ", epochs, " and ",
                 batch);
  basin::require(lr > 0 && wd >= 0 && subset >= 0, "options --lr, --wd, --train-subset: expected lr > 0, wd >= 0 ",
                 "and a subset >= 0 (0: all images), got ", lr, ", ", wd, ", ", subset);

  using net = basin::resnet20<basin::fashion_input>;
  using model_t = basin::model<net, float, basin::backend::host>;

  // Data: pixels in [0, 1], normalized by the training set's mean and standard deviation.
  auto train_set = basin::read_fashion_mnist(data_dir, true);
  auto test_set = basin::read_fashion_mnist(data_dir, false);
  const auto stats = basin::compute_channel_stats(train_set);
  basin::normalize(train_set, stats);
  basin::normalize(test_set, stats);
  if (subset > 0) train_set = basin::subset(train_set, 0, std::min<basin::index_t>(subset, train_set.size()));
  std::printf("Fashion-MNIST: %lld training, %lld test images; mean %.4f, std %.4f\n",
              (long long)train_set.size(), (long long)test_set.size(), stats.mean[0], stats.stddev[0]);

  model_t model(seed);
  std::printf("%s: %lld parameters in one buffer, %zu tensors\n", model_t::architecture().c_str(),
              (long long)model_t::n_params, model_t::param_table.size());

  // SGD with Nesterov momentum and weight decay, cosine learning rate over all epochs.
  basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, wd, true}, model_t::n_params);
  const basin::optim::cosine_lr schedule{lr, double(epochs)};

  // One training checkpoint (model and momentum) per epoch; a rerun with the same --out resumes
  // after the last finished epoch and ends in the same bits as a run that never stopped.
  basin::make_folder(out, "option --out");
  basin::train_options o;
  o.epochs = epochs;
  o.batch_size = batch;
  o.seed = seed;
  o.augment = augment;
  o.loss = loss;
  const auto ckpt = [&](int e) { return out + "/epoch_" + std::to_string(e) + ".h5"; };
  const basin::resume_options resume{ckpt, basin::text("resnet20, SGD lr ", lr, " cosine, Nesterov, wd ", wd)};
  // The initialization as epoch_0.h5 (the reference's model_0.t7), the training path's first
  // point for plot_trajectory; written whenever training starts from scratch.
  bool started = false;
  for (int e = 1; e <= epochs; ++e) started = started || basin::path_exists(ckpt(e), "option --out");
  if (!started) basin::save_checkpoint(model, ckpt(0), 0);
  double total = 0;
  basin::train_resumable(model, opt, schedule, train_set, o, resume, &test_set, [&](const basin::epoch_record& r) {
    total += r.seconds;
    std::printf("epoch %d: train %s %.4f, train accuracy %.2f%%, test %s %.4f, test accuracy %.2f%% (%.0f s)\n",
                r.epoch, mse ? "MSE" : "loss", r.train_loss, r.train_accuracy, mse ? "MSE" : "loss", r.test.loss,
                r.test.accuracy, r.seconds);
    std::fflush(stdout);
  });
  // A folder trained before epoch_0.h5 was written gets it now: the initialization is the seed's
  // (the resumed run's recipe has just been checked).
  if (!basin::path_exists(ckpt(0), "option --out")) basin::save_checkpoint(model_t(seed), ckpt(0), 0);
  basin::save_checkpoint(model, out + "/final.h5", epochs);
  const auto test = basin::evaluate(model, test_set, 500, basin::mode::eval, false, nullptr, loss);
  std::printf("test accuracy %.2f%%, test %s %.4f after %d epochs (%.0f s of training this run)\n", test.accuracy,
              mse ? "MSE" : "loss", test.loss, epochs, total);
  std::printf("checkpoint: %s/final.h5\n", out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "01_train: %s\n", e.what());
  return 1;
}
