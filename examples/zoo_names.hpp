// examples/zoo_names.hpp — the zoo's nets by the names the command-line tools take (plot_surface,
// plot_trajectory): the reference tool's names and basin's, per data set.
//
//   return basin::examples::with_zoo_net(dataset, model, [&]<class Net>() { return run<Net>(s); });
//
// fashion (1x28x28): resnet8 (06_trajectory's), plain8, resnet20/56/110, plain20/56/110,
// resnet56_w2/w4, plain56_w2/w4, densenet22 (every net 09_architectures trains), vgg9; cifar10
// (3x32x32): resnet20/56/110, plain20/56/110, densenet121, vgg9 (the nets of the reference tool's
// pre-trained models). The reference's resnet<depth>_noshort and wrn56_<k>_noshort name the plain
// nets, its wrn56_<k> the wide resnets.
#pragma once

#include <string>
#include <utility>

#include "basin/core/error.hpp"
#include "basin/net/zoo.hpp"

namespace basin::examples {

// basin's name for a net the reference tool names otherwise; other names as they are.
inline std::string zoo_name(const std::string& model) {
  for (const auto& [theirs, ours] : {std::pair<const char*, const char*>{"resnet20_noshort", "plain20"},
                                     {"resnet56_noshort", "plain56"},
                                     {"resnet110_noshort", "plain110"},
                                     {"wrn56_2_noshort", "plain56_w2"},
                                     {"wrn56_4_noshort", "plain56_w4"},
                                     {"wrn56_2", "resnet56_w2"},
                                     {"wrn56_4", "resnet56_w4"}})
    if (model == theirs) return ours;
  return model;
}

// f.template operator()<Net>() for the net `model` names (either name) on `dataset` ("fashion" or
// "cifar10"), returning what f returns; basin::error naming --model, the names known and the one
// given otherwise.
template <class F>
int with_zoo_net(const std::string& dataset, const std::string& model, F&& f) {
  const std::string m = zoo_name(model);
  if (dataset == "fashion") {
    if (m == "resnet8") return f.template operator()<resnet<8, fashion_input>>();
    if (m == "plain8") return f.template operator()<plain<8, fashion_input>>();
    if (m == "resnet20") return f.template operator()<resnet20<fashion_input>>();
    if (m == "resnet56") return f.template operator()<resnet56<fashion_input>>();
    if (m == "resnet110") return f.template operator()<resnet110<fashion_input>>();
    if (m == "plain20") return f.template operator()<plain20<fashion_input>>();
    if (m == "plain56") return f.template operator()<plain56<fashion_input>>();
    if (m == "plain110") return f.template operator()<plain110<fashion_input>>();
    if (m == "plain56_w2") return f.template operator()<plain<56, fashion_input, 2>>();
    if (m == "plain56_w4") return f.template operator()<plain<56, fashion_input, 4>>();
    if (m == "resnet56_w2") return f.template operator()<resnet<56, fashion_input, 2>>();
    if (m == "resnet56_w4") return f.template operator()<resnet<56, fashion_input, 4>>();
    if (m == "densenet22") return f.template operator()<densenet22<fashion_input>>();
    if (m == "vgg9") return f.template operator()<vgg9<fashion_input>>();
  } else if (dataset == "cifar10") {
    if (m == "resnet20") return f.template operator()<resnet20<cifar_input>>();
    if (m == "resnet56") return f.template operator()<resnet56<cifar_input>>();
    if (m == "resnet110") return f.template operator()<resnet110<cifar_input>>();
    if (m == "plain20") return f.template operator()<plain20<cifar_input>>();
    if (m == "plain56") return f.template operator()<plain56<cifar_input>>();
    if (m == "plain110") return f.template operator()<plain110<cifar_input>>();
    if (m == "densenet121") return f.template operator()<densenet121<cifar_input>>();
    if (m == "vgg9") return f.template operator()<vgg9<cifar_input>>();
  } else {
    fail("option --dataset: expected fashion or cifar10, got '", dataset, "'");
  }
  fail(
      "option --model: expected resnet8, plain8, resnet20, resnet56, resnet110, plain20, plain56, plain110, "
      "resnet56_w2, resnet56_w4, plain56_w2, plain56_w4, densenet22 or vgg9 (fashion) or resnet20, resnet56, "
      "resnet110, plain20, plain56, plain110, densenet121 or vgg9 (cifar10), or the reference tool's "
      "resnet<depth>_noshort (plain<depth>), wrn56_<k>_noshort (plain56_w<k>) or wrn56_<k> (resnet56_w<k>), got '",
      model, "'", model == m ? "" : " (" + m + ")", " for --dataset ", dataset);
}

}  // namespace basin::examples
