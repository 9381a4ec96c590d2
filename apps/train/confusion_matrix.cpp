// The confusion matrix's sums and its CSV, written and strictly read back.
#include "apps/train/confusion_matrix.h"

#include <sstream>

#include "core/check.h"
#include "core/input_file.h"

namespace lowbit {

namespace {

const char kCorner[] = "true\\predicted";

std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream row(line);
  std::string cell;
  while (std::getline(row, cell, ',')) cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

// A count: decimal digits only (no sign, no fraction, no spaces), small enough for int64.
bool parse_count(const std::string& text, int64_t& value) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  value = std::stoll(text);
  return true;
}

}  // namespace

double class_accuracy(const std::vector<int64_t>& counts, int64_t classes, int64_t truth) {
  int64_t total = 0;
  for (int64_t p = 0; p < classes; ++p) total += counts[static_cast<size_t>(truth * classes + p)];
  if (total == 0) return 0;
  return 100.0 * static_cast<double>(counts[static_cast<size_t>(truth * classes + truth)]) /
         static_cast<double>(total);
}

int64_t ConfusionMatrix::images_of(int64_t truth) const {
  int64_t n = 0;
  for (int64_t p = 0; p < classes(); ++p) n += at(truth, p);
  return n;
}

double ConfusionMatrix::class_accuracy(int64_t truth) const {
  return lowbit::class_accuracy(counts, classes(), truth);
}

int64_t ConfusionMatrix::most_confused_with(int64_t truth) const {
  int64_t best = -1;
  for (int64_t p = 0; p < classes(); ++p) {
    if (p != truth && at(truth, p) > 0 && (best < 0 || at(truth, p) > at(truth, best))) best = p;
  }
  return best;
}

int64_t ConfusionMatrix::total() const {
  int64_t n = 0;
  for (int64_t c : counts) n += c;
  return n;
}

double ConfusionMatrix::accuracy() const {
  int64_t correct = 0;
  for (int64_t k = 0; k < classes(); ++k) correct += at(k, k);
  const int64_t n = total();
  return n > 0 ? 100.0 * static_cast<double>(correct) / static_cast<double>(n) : 0.0;
}

std::string confusion_csv(const ConfusionMatrix& m) {
  const int64_t k = m.classes();
  LOWBIT_CHECK(static_cast<int64_t>(m.counts.size()) == k * k, "confusion_csv: ", m.counts.size(),
               " counts for ", k, " class names; expected ", k * k);
  std::string out = kCorner;
  for (const std::string& name : m.class_names) out += "," + name;
  out += "\n";
  for (int64_t t = 0; t < k; ++t) {
    out += m.class_names[static_cast<size_t>(t)];
    for (int64_t p = 0; p < k; ++p) out += "," + std::to_string(m.at(t, p));
    out += "\n";
  }
  return out;
}

ConfusionMatrix parse_confusion_csv(const std::string& csv, const std::string& source) {
  const std::string expected_header = std::string(kCorner) + ",<class names>";
  std::vector<std::string> lines;
  std::stringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // a file saved with CRLF line ends
    lines.push_back(line);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  LOWBIT_CHECK(!lines.empty(), source, ": empty; expected a confusion matrix as CSV, header ",
               expected_header);
  const std::vector<std::string> header = split_cells(lines[0]);
  LOWBIT_CHECK(header.size() >= 2 && header[0] == kCorner, source, ": line 1 is \"",
               lines[0].substr(0, 60), "\"; expected the header ", expected_header);
  ConfusionMatrix m;
  m.class_names.assign(header.begin() + 1, header.end());
  const int64_t k = m.classes();
  const size_t rows = lines.size() - 1;
  LOWBIT_CHECK(static_cast<int64_t>(rows) == k, source, ": ", rows, rows == 1 ? " row" : " rows",
               "; expected ", k, ", one per class of the header");
  for (int64_t t = 0; t < k; ++t) {
    const size_t line_number = static_cast<size_t>(t) + 2;
    const std::vector<std::string> cells = split_cells(lines[line_number - 1]);
    const std::string& name = m.class_names[static_cast<size_t>(t)];
    LOWBIT_CHECK(static_cast<int64_t>(cells.size()) == k + 1, source, ": line ", line_number,
                 " has ", cells.size(), " cells; expected ", k + 1, " (the class name and ", k,
                 " counts)");
    LOWBIT_CHECK(cells[0] == name, source, ": line ", line_number, " is the row of \"", cells[0],
                 "\"; expected \"", name, "\", the header's class ", t + 1);
    for (int64_t p = 0; p < k; ++p) {
      int64_t count = 0;
      const std::string& cell = cells[static_cast<size_t>(p) + 1];
      LOWBIT_CHECK(parse_count(cell, count), source, ": line ", line_number, ", column ", p + 2,
                   " is \"", cell, "\"; expected a count (a non-negative integer)");
      m.counts.push_back(count);
    }
  }
  return m;
}

ConfusionMatrix read_confusion_csv(const std::string& path) {
  // A regular file only: /dev/zero would be read forever, a FIFO would block.
  const std::vector<uint8_t> bytes = InputFile(path, "a confusion matrix as CSV").read_all();
  return parse_confusion_csv(std::string(bytes.begin(), bytes.end()), path);
}

}  // namespace lowbit
