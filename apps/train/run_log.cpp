// Metrics as JSON and CSV, curves through the SVG chart writer, atomic text files.
#include "apps/train/run_log.h"

#include <cstdio>

#include "apps/common/svg_plot.h"
#include "core/check.h"

namespace lowbit {

nlohmann::json to_json(const EpochMetrics& m) { return nlohmann::json(m); }

EpochMetrics epoch_metrics_from_json(const nlohmann::json& j) { return j.get<EpochMetrics>(); }

std::string metrics_csv(const std::vector<EpochMetrics>& history) {
  std::string out =
      "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,images_per_second\n";
  char line[256];
  for (const EpochMetrics& m : history) {
    std::snprintf(line, sizeof line, "%d,%.6f,%.4f,%.6f,%.4f,%.8g,%.3f,%.1f\n", m.epoch,
                  m.train_loss, m.train_accuracy, m.val_loss, m.val_accuracy, m.lr, m.seconds,
                  m.images_per_second);
    out += line;
  }
  return out;
}

std::string training_curves_svg(const std::vector<EpochMetrics>& history,
                                const std::string& title) {
  PlotSeries train_loss{"train loss", {}, {}}, val_loss{"validation loss", {}, {}};
  PlotSeries train_acc{"train accuracy", {}, {}}, val_acc{"validation accuracy", {}, {}};
  bool validated =
      false;  // a run without a validation split records zeros there: no curve for them
  for (const EpochMetrics& m : history) {
    train_loss.x.push_back(m.epoch);
    train_loss.y.push_back(m.train_loss);
    val_loss.x.push_back(m.epoch);
    val_loss.y.push_back(m.val_loss);
    train_acc.x.push_back(m.epoch);
    train_acc.y.push_back(m.train_accuracy);
    val_acc.x.push_back(m.epoch);
    val_acc.y.push_back(m.val_accuracy);
    validated = validated || m.val_loss != 0 || m.val_accuracy != 0;
  }
  PlotOptions loss_options{title + ": loss", "epoch", "cross-entropy"};
  PlotOptions acc_options{title + ": accuracy", "epoch", "accuracy (%)"};
  loss_options.min_x_step = acc_options.min_x_step = 1;
  std::vector<PlotSeries> losses{train_loss}, accuracies{train_acc};
  if (validated) losses.push_back(val_loss), accuracies.push_back(val_acc);
  // Two charts stacked in one SVG document: each chart is a nested <svg> at its offset.
  const std::string loss = svg_line_chart(losses, loss_options);
  const std::string acc = svg_line_chart(accuracies, acc_options);
  auto nested = [](const std::string& chart, int y) {
    const size_t start = chart.find("<svg");
    return "<g transform=\"translate(0," + std::to_string(y) + ")\">" + chart.substr(start) +
           "</g>\n";
  };
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
         "width=\"" +
         std::to_string(loss_options.width) + "\" height=\"" +
         std::to_string(loss_options.height * 2) + "\">\n" + nested(loss, 0) +
         nested(acc, loss_options.height) + "</svg>\n";
}

}  // namespace lowbit
