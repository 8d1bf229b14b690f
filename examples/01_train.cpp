// examples/01_train.cpp — train resnet20 on Fashion-MNIST (or CIFAR-10) and report test accuracy.
//
// The first teaching example: a network is a type, the model holds one flat parameter buffer,
// the trainer walks the real Fashion-MNIST data from Debian's dataset-fashion-mnist package,
// and a checkpoint is written after every epoch (PyTorch state_dict names, HDF5), so the later
// examples can draw the landscape around the trained minimizer.
//
//   01_train [--epochs 6] [--batch 128] [--lr 0.1] [--wd 5e-4] [--seed 1] [--augment]
//            [--train-subset N] [--data /usr/share/datasets/fashion-mnist] [--out resnet20_fmnist]
//            [--loss_name crossentropy|mse] [--dataset fashion|cifar10]
//
// --dataset cifar10 trains the reference tool's resnet20 on CIFAR-10 (3x32x32; --data: the folder
// of its binary batches data_batch_1.bin .. 5 and test_batch.bin; default --out resnet20_cifar10),
// with this program's recipe (its cifar10/main.py steps the rate down where this one's is cosine); --augment flips and
// shifts the images (by up to 2 pixels, where the reference crops with padding 4); its checkpoints are plot_surface
// --dataset cifar10's.
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
#include "basin/data/cifar.hpp"
#include "basin/data/idx.hpp"
#include "basin/io/checkpoint.hpp"
#include "basin/net/model.hpp"
#include "basin/net/zoo.hpp"
#include "basin/optim/optimizers.hpp"
#include "basin/optim/schedules.hpp"
#include "basin/train/resume.hpp"
#include "basin/train/trainer.hpp"
#include "cli.hpp"

namespace {
struct settings {
  int epochs = 6;
  long batch = 128;
  double lr = 0.1, wd = 5e-4;
  std::uint64_t seed = 1;
  bool augment = false;
  basin::criterion loss = basin::criterion::cross_entropy;
  std::string out;
};

// Trains Net on the (normalized) data with a training checkpoint after every epoch.
template <class Net>
void train(const settings& s, const basin::dataset& train_set, const basin::dataset& test_set) {
  using model_t = basin::model<Net, float, basin::backend::host>;
  const bool mse = s.loss == basin::criterion::mse;
  model_t model(s.seed);
  std::printf("%s: %lld parameters in one buffer, %zu tensors\n", model_t::architecture().c_str(),
              (long long)model_t::n_params, model_t::param_table.size());

  // SGD with Nesterov momentum and weight decay, cosine learning rate over all epochs.
  basin::optim::optimizer<basin::optim::sgd, float, basin::backend::host> opt({0.9, s.wd, true}, model_t::n_params);
  const basin::optim::cosine_lr schedule{s.lr, double(s.epochs)};

  // One training checkpoint (model and momentum) per epoch; a rerun with the same --out resumes
  // after the last finished epoch and ends in the same bits as a run that never stopped.
  basin::make_folder(s.out, "option --out");
  basin::train_options o;
  o.epochs = s.epochs;
  o.batch_size = s.batch;
  o.seed = s.seed;
  o.augment = s.augment;
  o.loss = s.loss;
  const auto ckpt = [&](int e) { return s.out + "/epoch_" + std::to_string(e) + ".h5"; };
  const basin::resume_options resume{ckpt, basin::text("resnet20, SGD lr ", s.lr, " cosine, Nesterov, wd ", s.wd)};
  // The initialization as epoch_0.h5 (the reference's model_0.t7), the training path's first
  // point for plot_trajectory; written whenever training starts from scratch.
  bool started = false;
  for (int e = 1; e <= s.epochs; ++e) started = started || basin::path_exists(ckpt(e), "option --out");
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
  if (!basin::path_exists(ckpt(0), "option --out")) basin::save_checkpoint(model_t(s.seed), ckpt(0), 0);
  basin::save_checkpoint(model, s.out + "/final.h5", s.epochs);
  const auto test = basin::evaluate(model, test_set, 500, basin::mode::eval, false, nullptr, s.loss);
  std::printf("test accuracy %.2f%%, test %s %.4f after %d epochs (%.0f s of training this run)\n", test.accuracy,
              mse ? "MSE" : "loss", test.loss, s.epochs, total);
  std::printf("checkpoint: %s/final.h5\n", s.out.c_str());
}
}  // namespace

int main(int argc, char** argv) try {
  using basin::examples::about;
  basin::examples::cli args(argc, argv,
                            "Trains resnet20 on Fashion-MNIST (or CIFAR-10) with SGD, writes a checkpoint after every "
                            "epoch and reports the test accuracy.");
  settings s;
  s.epochs = args.get("epochs", 6, about{"epochs to train"});
  s.batch = args.get("batch", 128L, about{"images per mini-batch"});
  s.lr = args.get("lr", 0.1, about{"SGD learning rate at the start (cosine decay to 0 over the epochs)"});
  s.wd = args.get("wd", 5e-4, about{"weight decay (SGD with Nesterov momentum 0.9)"});
  s.seed = args.get("seed", std::uint64_t(1), about{"seed of the initialization, the shuffling and the augmentation"});
  const long subset = args.get("train-subset", 0L, "0: all", about{"training images used (the first N)"});
  s.augment = args.flag("augment", about{"flip the training images and shift them by up to 2 pixels"});
  const std::string dataset = args.get("dataset", std::string("fashion"), about{"fashion or cifar10"});
  const bool cifar = dataset == "cifar10";
  const std::string data_dir =
      args.get("data", std::string(cifar ? "" : "/usr/share/datasets/fashion-mnist"),
               "/usr/share/datasets/fashion-mnist; with --dataset cifar10 required (the folder of its .bin batches)",
               about{"where Debian's dataset-fashion-mnist put the IDX files, or CIFAR-10's binary batches"});
  s.loss = basin::criterion_from_name(
      args.get("loss_name", std::string("crossentropy"),
               about{"training loss: crossentropy, or mse of the softmax against the one-hot label"}),
      "option --loss_name");
  const bool mse = s.loss == basin::criterion::mse;
  const std::string stem = cifar ? "resnet20_cifar10" : "resnet20_fmnist";
  s.out = args.get("out", stem + (mse ? "_mse" : ""),
                   "resnet20_fmnist (resnet20_cifar10 with --dataset cifar10), _mse added with --loss_name mse",
                   about{"folder the checkpoints are written to (a rerun resumes after its last epoch)"});
  if (!args.done()) return 0;  // --help
  basin::require(s.epochs >= 1 && s.epochs <= 100000, "option --epochs: expected 1 to 100000, got ", s.epochs);
  basin::require(s.batch >= 1, "option --batch: expected at least 1 image, got ", s.batch);
  basin::require(s.lr > 0, "option --lr: expected a positive rate, got ", s.lr);
  basin::require(s.wd >= 0 && s.lr * s.wd < 1,
                 "option --wd: expected 0 or more and lr x wd below 1 (each step scales the weights by 1 - lr wd; "
                 "typical 5e-4), got ",
                 s.wd, " with --lr ", s.lr);
  basin::require(subset >= 0, "option --train-subset: expected 0 (all images) or more, got ", subset);
  basin::require(dataset == "fashion" || cifar, "option --dataset: expected fashion or cifar10, got '", dataset, "'");
  basin::require(!data_dir.empty(), "option --data: required with --dataset cifar10 (the folder of data_batch_1.bin ",
                 ".. data_batch_5.bin and test_batch.bin)");

  // Data: pixels in [0, 1], normalized by the training set's mean and standard deviation (per channel).
  const auto read = [&](bool train) {
    return cifar ? basin::read_cifar10_dir(data_dir, train) : basin::read_fashion_mnist(data_dir, train);
  };
  auto [train_set, test_set, stats] = basin::normalize_by_train(read(true), read(false));
  if (subset > 0) train_set = basin::first_images(train_set, subset);
  std::printf("%s: %lld training, %lld test images; mean", cifar ? "CIFAR-10" : "Fashion-MNIST",
              (long long)train_set.size(), (long long)test_set.size());
  for (double m : stats.mean) std::printf(" %.4f", m);
  std::printf(", std");
  for (double d : stats.stddev) std::printf(" %.4f", d);
  std::printf("\n");
  if (cifar)
    train<basin::resnet20<basin::cifar_input>>(s, train_set, test_set);
  else
    train<basin::resnet20<basin::fashion_input>>(s, train_set, test_set);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "01_train: %s\n", e.what());
  return 1;
}
