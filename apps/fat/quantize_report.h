// The reports of lowbit-quantize: the accuracy table, one row per stage (float, naive
// max-threshold quantization, after threshold fine-tuning, integer-only), as aligned text, CSV and
// JSON; and the thresholds the rounding-tie clearance moved, as text and JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/transforms/rounding_ties.h"

namespace lowbit {

struct AccuracyRow {
  std::string stage;    // "float", "naive", "fine-tuned"
  double accuracy = 0;  // test accuracy, percent
  double loss = 0;      // test cross-entropy
  double rmse = 0;      // held-out RMSE of the logits against the float model (0 for float itself)
};

// `title` heads the text (model, data set, bits, mode, thresholds). Columns: stage, accuracy, the
// difference to the first row (float), loss, RMSE.
std::string accuracy_table_text(const std::string& title, const std::vector<AccuracyRow>& rows);
std::string accuracy_table_csv(const std::vector<AccuracyRow>& rows);
nlohmann::json accuracy_table_json(const std::vector<AccuracyRow>& rows);

// The rounding-tie clearance of a run (models/transforms/rounding_ties.h) on `images` images in
// `seconds`: a line with the count of layers checked and moved, then one line per moved threshold.
std::string tie_clearance_text(const std::vector<TieCheck>& checks, int64_t images, double seconds);
// The same as JSON: images, seconds, layers checked, and the moved layers with their units and
// counts.
nlohmann::json tie_clearance_json(const std::vector<TieCheck>& checks, int64_t images,
                                  double seconds);

}  // namespace lowbit
