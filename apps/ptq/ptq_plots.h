// SVG figures of the post-training quantization analysis: per-channel box plots of a layer
// (Figure 1 of the bit-efficient quantization paper) and stacked histograms (Figure 2); the
// confusion heat maps of Figure 3 are apps/train/confusion_report.h's. Self-contained SVG 1.1.
#pragma once

#include <string>
#include <vector>

#include "apps/ptq/ptq_analysis.h"

namespace lowbit {

struct BoxPanel {
  std::string title;                  // "sym-3"
  std::vector<FiveNumbers> channels;  // one box per channel
};
// One panel per variant, stacked, on a common value axis: for every channel a whisker from
// minimum to maximum, a box from q1 to q3 and a line at the median.
std::string svg_box_plots(const std::vector<BoxPanel>& panels, const std::string& title);

struct HistogramPanel {
  std::string title;
  Histogram histogram;
};
// One staircase chart per panel, stacked, each with its own count axis.
std::string svg_histograms(const std::vector<HistogramPanel>& panels, const std::string& title);

}  // namespace lowbit
