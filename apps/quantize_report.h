// The accuracy table of lowbit-quantize: one row per stage (float, naive max-threshold
// quantization, after threshold fine-tuning), as aligned text, CSV and JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

}  // namespace lowbit
