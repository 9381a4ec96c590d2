// The sweep loop (restore, quantize, evaluate, size) and its tables, CSV and JSON.
#include "apps/ptq/ptq_sweep.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "apps/common/text_format.h"
#include "core/check.h"

namespace lowbit {

std::vector<PtqSpec> sweep_cells(const PtqSweepOptions& o) {
  std::vector<PtqSpec> cells;
  for (PtqScheme s : o.schemes) {
    if (s == PtqScheme::kPow2Free) {
      cells.push_back(PtqSpec{s, 0, o.granularity});
      continue;
    }
    for (int b : o.bits) {
      const PtqSpec spec{s, b, o.granularity};
      validate(spec);
      cells.push_back(spec);
    }
  }
  return cells;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Bytes as kB (10^3 bytes) with three significant digits or more; "-" when not measured.
std::string kilobytes(int64_t bytes) {
  if (bytes < 0) return "-";
  const double kb = static_cast<double>(bytes) / 1000.0;
  return fixed(kb, kb >= 100 ? 0 : kb >= 10 ? 1 : 2) + " kB";
}

std::string ratio(int64_t part, int64_t whole) {
  if (part < 0 || whole <= 0) return "-";
  return fixed(static_cast<double>(whole) / static_cast<double>(part), 1) + "x";
}

}  // namespace

PtqSweep run_ptq_sweep(Module& model, BatchLoader& test, int64_t num_classes,
                       const PtqSweepOptions& options,
                       const std::function<void(size_t, size_t, const PtqCell&)>& on_cell) {
  check_disjoint(options.groups);
  const std::vector<PtqSpec> specs = sweep_cells(options);
  PtqSweep sweep;
  sweep.options = options;
  const ModelSnapshot snapshot(model);

  auto start = std::chrono::steady_clock::now();
  PtqCell& base = sweep.baseline;
  base.label = "float";
  base.baseline = true;
  base.evaluation = evaluate(model, test, num_classes);
  base.grouped = grouped_accuracy(base.evaluation, options.groups);
  base.size = model_size(model, nullptr, options.compression);
  base.seconds = seconds_since(start);
  if (on_cell) on_cell(0, specs.size(), base);

  for (size_t i = 0; i < specs.size(); ++i) {
    start = std::chrono::steady_clock::now();
    PtqCell cell;
    cell.spec = specs[i];
    cell.label = ptq_spec_label(specs[i]);
    snapshot.restore();
    const PtqModelResult q = ptq_quantize_model(model, specs[i], options.targets);
    for (const PtqTensor& t : q.tensors) cell.quantized_values += t.shape.numel();
    cell.levels = level_summary(q);
    cell.evaluation = evaluate(model, test, num_classes);
    cell.grouped = grouped_accuracy(cell.evaluation, options.groups);
    cell.size = model_size(model, &q, options.compression);
    cell.seconds = seconds_since(start);
    sweep.cells.push_back(std::move(cell));
    if (on_cell) on_cell(i + 1, specs.size(), sweep.cells.back());
  }
  snapshot.restore();
  return sweep;
}

TextTable accuracy_table(const PtqSweep& s) {
  TextTable t;
  std::vector<std::string> header = {"accuracy % (packed size)", "FP-32"};
  for (int b : s.options.bits) header.push_back(std::to_string(b) + "-bit");
  t.push_back(header);
  const std::string base = fixed(s.baseline.evaluation.accuracy, 2) + " (" +
                           kilobytes(s.baseline.size.float_bytes) + ")";
  for (PtqScheme scheme : s.options.schemes) {
    std::vector<std::string> row = {ptq_scheme_name(scheme), base};
    for (const PtqCell& c : s.cells) {
      if (c.spec.scheme != scheme) continue;
      std::string text =
          fixed(c.evaluation.accuracy, 2) + " (" + kilobytes(c.size.packed_bytes) + ")";
      if (scheme == PtqScheme::kPow2Free) {  // one cell: its bit width is an outcome
        text = fixed(c.evaluation.accuracy, 2) + " (avg bit-levels " +
               fixed(c.levels.average_bit_levels, 2) + ", " + kilobytes(c.size.packed_bytes) + ")";
      }
      row.push_back(text);
    }
    t.push_back(row);
  }
  return t;
}

TextTable compression_table(const PtqSweep& s) {
  TextTable t = {{"model", "float32", "float32 gzip", "float32 xz", "packed", "packed gzip",
                  "packed xz", "xz float32 saving"}};
  auto row = [&](const PtqCell& c) {
    const ModelSize& z = c.size;
    t.push_back({c.label, kilobytes(z.float_bytes), kilobytes(z.float_gzip), kilobytes(z.float_xz),
                 kilobytes(z.packed_bytes), kilobytes(z.packed_gzip), kilobytes(z.packed_xz),
                 ratio(z.float_xz, s.baseline.size.float_bytes)});
  };
  row(s.baseline);
  for (const PtqCell& c : s.cells) row(c);
  return t;
}

TextTable grouped_table(const PtqSweep& s) {
  std::string groups;
  for (const ClassGroup& g : s.options.groups) groups += (groups.empty() ? "" : ", ") + g.name;
  std::vector<std::string> header = {"model", "accuracy %", "grouped (" + groups + ") %"};
  for (const ClassGroup& g : s.options.groups) header.push_back(g.name + " as one class %");
  TextTable t = {header};
  auto row = [&](const PtqCell& c) {
    std::vector<std::string> r = {c.label, fixed(c.evaluation.accuracy, 2),
                                  fixed(c.grouped.accuracy, 2)};
    for (double a : c.grouped.group_accuracy) r.push_back(fixed(a, 2));
    t.push_back(r);
  };
  row(s.baseline);
  for (const PtqCell& c : s.cells) row(c);
  return t;
}

TextTable levels_table(const PtqSweep& s) {
  TextTable t = {
      {"model", "average bit-levels", "weighted by size", "most distinct values in a kernel"}};
  for (const PtqCell& c : s.cells) {
    int64_t most = 0;
    for (const LayerLevels& l : c.levels.layers) most = std::max(most, l.distinct);
    t.push_back({c.label, fixed(c.levels.average_bit_levels, 2),
                 fixed(c.levels.weighted_bit_levels, 2), std::to_string(most)});
  }
  return t;
}

std::string format_text_table(const TextTable& t) {
  std::vector<size_t> width;
  for (const auto& row : t) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : t) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      line += i == 0 ? row[i] + pad : "  " + pad + row[i];
    }
    out += line + "\n";
  }
  return out;
}

std::string ptq_csv(const PtqSweep& s) {
  std::string out =
      "scheme,granularity,bits,accuracy,loss,grouped_accuracy,quantized_values,float_bytes,float_"
      "gzip,float_xz,"
      "packed_bytes,packed_gzip,packed_xz,average_bit_levels,weighted_bit_levels,seconds\n";
  auto row = [&](const PtqCell& c) {
    char buf[512];
    const ModelSize& z = c.size;
    std::snprintf(buf, sizeof buf,
                  "%s,%s,%d,%.4f,%.6f,%.4f,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%.4f,%.4f,%.2f\n",
                  c.baseline ? "float" : ptq_scheme_name(c.spec.scheme),
                  ptq_granularity_name(s.options.granularity), c.baseline ? 32 : c.spec.bits,
                  c.evaluation.accuracy, c.evaluation.loss, c.grouped.accuracy,
                  static_cast<long long>(c.quantized_values), static_cast<long long>(z.float_bytes),
                  static_cast<long long>(z.float_gzip), static_cast<long long>(z.float_xz),
                  static_cast<long long>(z.packed_bytes), static_cast<long long>(z.packed_gzip),
                  static_cast<long long>(z.packed_xz), c.levels.average_bit_levels,
                  c.levels.weighted_bit_levels, c.seconds);
    out += buf;
  };
  row(s.baseline);
  for (const PtqCell& c : s.cells) row(c);
  return out;
}

std::string levels_csv(const PtqSweep& s) {
  std::string out = "scheme,bits,layer,elements,distinct_values,bit_levels\n";
  for (const PtqCell& c : s.cells) {
    for (const LayerLevels& l : c.levels.layers) {
      out += std::string(ptq_scheme_name(c.spec.scheme)) + "," + std::to_string(c.spec.bits) + "," +
             l.name + "," + std::to_string(l.elements) + "," + std::to_string(l.distinct) + "," +
             std::to_string(l.bit_levels) + "\n";
    }
  }
  return out;
}

nlohmann::json ptq_json(const PtqSweep& s, const std::vector<std::string>& class_names) {
  auto cell_json = [&](const PtqCell& c) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerLevels& l : c.levels.layers) {
      layers.push_back({{"layer", l.name},
                        {"elements", l.elements},
                        {"distinct_values", l.distinct},
                        {"bit_levels", l.bit_levels}});
    }
    const ModelSize& z = c.size;
    nlohmann::json j = {{"label", c.label},
                        {"scheme", c.baseline ? "float" : ptq_scheme_name(c.spec.scheme)},
                        {"bits", c.baseline ? 32 : c.spec.bits},
                        {"accuracy", c.evaluation.accuracy},
                        {"loss", c.evaluation.loss},
                        {"images", c.evaluation.count},
                        {"class_accuracy", class_accuracy_json(c.evaluation, class_names)},
                        {"confusion", c.evaluation.confusion},
                        {"grouped_accuracy", c.grouped.accuracy},
                        {"group_accuracy", c.grouped.group_accuracy},
                        {"quantized_values", c.quantized_values},
                        {"size",
                         {{"float_bytes", z.float_bytes},
                          {"float_gzip", z.float_gzip},
                          {"float_xz", z.float_xz},
                          {"packed_bytes", z.packed_bytes},
                          {"packed_gzip", z.packed_gzip},
                          {"packed_xz", z.packed_xz}}},
                        {"average_bit_levels", c.levels.average_bit_levels},
                        {"weighted_bit_levels", c.levels.weighted_bit_levels},
                        {"layers", layers},
                        {"seconds", c.seconds}};
    return j;
  };
  nlohmann::json groups = nlohmann::json::array();
  for (const ClassGroup& g : s.options.groups)
    groups.push_back({{"name", g.name}, {"classes", g.classes}});
  nlohmann::json cells = nlohmann::json::array();
  for (const PtqCell& c : s.cells) cells.push_back(cell_json(c));
  return {{"granularity", ptq_granularity_name(s.options.granularity)},
          {"biases", s.options.targets.biases},
          {"bn", ptq_bn_name(s.options.targets.bn)},
          {"gzip_level", s.options.compression.gzip_level},
          {"xz_preset", s.options.compression.xz_preset},
          {"compressed", s.options.compression.enabled},
          {"groups", groups},
          {"baseline", cell_json(s.baseline)},
          {"cells", cells}};
}

}  // namespace lowbit
