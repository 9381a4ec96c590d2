// What a training run leaves for its user: per-epoch metrics (kept in the checkpoint and
// rewritten to metrics.csv after every epoch, so the file always matches the last
// checkpoint) and training curves as SVG.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/atomic_file.h"  // write_file_atomic: every file a run leaves is written through it

namespace lowbit {

struct EpochMetrics {
  int epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;  // 0 when there is no validation split
  double lr = 0;                          // learning rate at the epoch's last step
  double seconds = 0;                     // training time of the epoch (without evaluation)
  double images_per_second = 0;
};

// Both JSON directions from one field list; reading requires every key.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EpochMetrics, epoch, train_loss, train_accuracy, val_loss,
                                   val_accuracy, lr, seconds, images_per_second)

nlohmann::json to_json(const EpochMetrics& m);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& j);

// The header and one line per epoch.
std::string metrics_csv(const std::vector<EpochMetrics>& history);
// Loss and accuracy curves (train and validation) as one SVG page.
std::string training_curves_svg(const std::vector<EpochMetrics>& history, const std::string& title);

}  // namespace lowbit
