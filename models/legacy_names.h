// The layer names of checkpoints written before layers were named by PyTorch-style module paths
// (LeNet-5's "0", ResNet's "stem.0" and "stages.1.0.shortcut.0", MobileNet-v2's "3.body.0"), and
// the renaming that lets those checkpoints load into today's models.
//
// Why a mapping of names rather than matching entries by position: the old and the new models
// hold the same layers in the same order, but a checkpoint does not list them all as tensors
// (weights trained on the power-of-two grid are stored as their optimizer's int8 states, in
// blobs named after the weight), and the optimizers' states and the quantizers' options are
// keyed by layer name too. The old name of every module follows from the model's structure
// (legacy_module_paths), so every name in the file can be translated, whatever it holds.
#pragma once

#include <map>
#include <string>

#include "core/checkpoint.h"
#include "layers/module.h"

namespace lowbit {

// The old path of every module under `model` that had one, keyed by its path today: "conv1" ->
// "0" in LeNet-5, "layer2.0.downsample.0" -> "stages.1.0.shortcut.0" in ResNet-18. The old models
// differ only in how modules were named and grouped: a Sequential inside a Sequential was one flat
// Sequential numbered in order (VGG's features and classifier, MobileNet-v2's conv-BN-activation
// groups), ResNet's stem was "stem.0..2" and its stages "stages.<k-1>", a projection shortcut was
// "shortcut", an inverted residual's "conv" was "body". Groups that did not exist then are absent.
std::map<std::string, std::string> legacy_module_paths(const Module& model);

// The old name of every parameter and buffer of `model` whose name changed, keyed by its name today
// ("conv1.weight" -> "0.weight").
std::map<std::string, std::string> legacy_entry_names(const Module& model);

// How a checkpoint's tensors "<prefix><entry>" name the entries of a model whose names changed.
enum class EntryNaming {
  kCurrent,  // some renamed entry under its name today (or no entry of the model was renamed)
  kLegacy,   // some renamed entry under its old name, none under its new one
  kNeither,  // no renamed entry under either name: the file holds another model
};

// Renames a checkpoint written with the old names to today's: every tensor and blob whose name
// ends, after a dot, in an old entry name ("model.0.weight", "optimizer1.dst.4.weight",
// "optimizer0.exp_avg.stem.1.bias") gets the new one. Returns how the file named the entries; it is
// changed only when that is kLegacy.
EntryNaming rename_legacy_entries(Checkpoint& checkpoint, const Module& model,
                                  const std::string& prefix = "model.");

// For an error when a checkpoint is kNeither: a clause that says so, with the first renamed entry
// of `model` under both its names ("; the file has neither ... ('conv1.weight', formerly
// '0.weight')"), so that a file from before the renaming is not taken for another model; "" when no
// name changed.
std::string legacy_naming_hint(const Module& model);

}  // namespace lowbit
