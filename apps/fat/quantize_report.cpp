// Formatting of the accuracy table.
#include "apps/fat/quantize_report.h"

#include <cstdio>

namespace lowbit {

std::string accuracy_table_text(const std::string& title, const std::vector<AccuracyRow>& rows) {
  std::string out = title + "\n";
  char line[192];
  std::snprintf(line, sizeof line, "%-12s %10s %10s %10s %12s\n", "stage", "accuracy", "vs float",
                "loss", "logits RMSE");
  out += line;
  for (const AccuracyRow& r : rows) {
    const double delta = rows.empty() ? 0.0 : r.accuracy - rows.front().accuracy;
    std::snprintf(line, sizeof line, "%-12s %9.2f%% %+10.2f %10.4f %12.5f\n", r.stage.c_str(),
                  r.accuracy, delta, r.loss, r.rmse);
    out += line;
  }
  return out;
}

std::string accuracy_table_csv(const std::vector<AccuracyRow>& rows) {
  std::string out = "stage,test_accuracy,test_loss,logits_rmse\n";
  char line[160];
  for (const AccuracyRow& r : rows) {
    std::snprintf(line, sizeof line, "%s,%.4f,%.6f,%.6f\n", r.stage.c_str(), r.accuracy, r.loss,
                  r.rmse);
    out += line;
  }
  return out;
}

nlohmann::json accuracy_table_json(const std::vector<AccuracyRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const AccuracyRow& r : rows)
    out.push_back({{"stage", r.stage},
                   {"test_accuracy", r.accuracy},
                   {"test_loss", r.loss},
                   {"logits_rmse", r.rmse}});
  return out;
}

std::string tie_clearance_text(const std::vector<TieCheck>& checks, int64_t images,
                               double seconds) {
  int64_t moved = 0;
  for (const TieCheck& c : checks) moved += c.units != 0;
  char line[256];
  std::snprintf(
      line, sizeof line,
      "rounding ties: %lld of %zu input thresholds moved off values on a rounding boundary "
      "(%lld training images, %.1f s)\n",
      static_cast<long long>(moved), checks.size(), static_cast<long long>(images), seconds);
  std::string out = line;
  for (const TieCheck& c : checks) {
    if (c.units == 0) continue;
    std::snprintf(line, sizeof line,
                  "  %-32s alpha %+d x 2^-12: %lld values near a boundary -> %lld\n",
                  c.layer.c_str(), c.units, static_cast<long long>(c.ties_before),
                  static_cast<long long>(c.ties_after));
    out += line;
  }
  return out;
}

nlohmann::json tie_clearance_json(const std::vector<TieCheck>& checks, int64_t images,
                                  double seconds) {
  nlohmann::json moved = nlohmann::json::array();
  for (const TieCheck& c : checks)
    if (c.units != 0)
      moved.push_back({{"layer", c.layer},
                       {"units", c.units},
                       {"ties_before", c.ties_before},
                       {"ties_after", c.ties_after},
                       {"values", c.values}});
  return {{"images", images},
          {"seconds", seconds},
          {"layers_checked", checks.size()},
          {"moved", moved}};
}

}  // namespace lowbit
