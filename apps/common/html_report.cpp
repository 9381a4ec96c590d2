// The HTML page: XHTML syntax (every element closed, attributes quoted, text escaped) with
// the SVG figures inlined in the SVG namespace.
#include "apps/common/html_report.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "apps/common/svg_plot.h"

namespace lowbit {

namespace {

std::string inline_svg(const std::string& svg) {
  const size_t start = svg.find("<svg");
  return start == std::string::npos ? std::string() : svg.substr(start);
}

std::string table_html(const HtmlTable& t) {
  std::string out = "<table>\n";
  if (!t.caption.empty()) out += "<caption>" + xml_escape(t.caption) + "</caption>\n";
  if (!t.header.empty()) {
    out += "<thead><tr>";
    for (const std::string& h : t.header) out += "<th>" + xml_escape(h) + "</th>";
    out += "</tr></thead>\n";
  }
  out += "<tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (const std::string& cell : row) out += "<td>" + xml_escape(cell) + "</td>";
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

const char* kStyle =
    "body{font-family:sans-serif;margin:2em;max-width:80em;color:#222}"
    "table{border-collapse:collapse;margin:1em "
    "0}caption{text-align:left;font-weight:bold;padding:0.3em 0}"
    "th,td{border:1px solid #bbb;padding:0.25em 0.6em;text-align:right}th{background:#eee}"
    "td:first-child,th:first-child{text-align:left}figure{margin:1em 0;overflow-x:auto}"
    "nav a{margin-right:1em}";

}  // namespace

std::string html_report(const std::string& title, const std::vector<HtmlSection>& sections) {
  std::string out =
      "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta "
      "charset=\"utf-8\"/>\n"
      "<title>" +
      xml_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>" +
      xml_escape(title) + "</h1>\n<nav>";
  for (size_t i = 0; i < sections.size(); ++i) {
    out +=
        "<a href=\"#s" + std::to_string(i + 1) + "\">" + xml_escape(sections[i].heading) + "</a>";
  }
  out += "</nav>\n";
  for (size_t i = 0; i < sections.size(); ++i) {
    const HtmlSection& s = sections[i];
    out +=
        "<section id=\"s" + std::to_string(i + 1) + "\">\n<h2>" + xml_escape(s.heading) + "</h2>\n";
    for (const std::string& p : s.paragraphs) out += "<p>" + xml_escape(p) + "</p>\n";
    for (const HtmlTable& t : s.tables) out += table_html(t);
    for (const std::string& f : s.figures) out += "<figure>\n" + inline_svg(f) + "</figure>\n";
    out += "</section>\n";
  }
  return out + "</body>\n</html>\n";
}

HtmlTable html_table_from_csv(const std::string& caption, const std::string& csv) {
  HtmlTable t;
  t.caption = caption;
  std::stringstream lines(csv);
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::stringstream row(line);
    std::string cell;
    while (std::getline(row, cell, ',')) cells.push_back(cell);
    if (line.back() == ',') cells.emplace_back();
    if (first) {
      t.header = cells;
      first = false;
    } else {
      t.rows.push_back(cells);
    }
  }
  return t;
}

namespace {

// A small XML well-formedness scanner over the whole text.
class XmlScanner {
 public:
  explicit XmlScanner(const std::string& text) : s_(text) {}

  std::string run() {
    std::vector<std::string> open;
    int roots = 0;
    while (pos_ < s_.size()) {
      if (s_[pos_] != '<') {
        const size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] != '<') {
          if (s_[pos_] != '&') {
            ++pos_;
          } else if (!entity()) {
            return fail("a bare '&' in text");
          }
        }
        if (open.empty() && s_.find_first_not_of(" \t\r\n", start) < pos_)
          return fail("text outside the root element");
        continue;
      }
      if (starts("<?")) {
        if (!skip_past("?>")) return fail("an unterminated <? ... ?>");
      } else if (starts("<!--")) {
        if (!skip_past("-->")) return fail("an unterminated comment");
      } else if (starts("<!DOCTYPE")) {
        if (roots > 0 || !open.empty()) return fail("a DOCTYPE after the root element started");
        if (!skip_past(">")) return fail("an unterminated DOCTYPE");
      } else if (starts("</")) {
        pos_ += 2;
        const std::string name = read_name();
        if (name.empty()) return fail("an end tag without a name");
        skip_space();
        if (pos_ >= s_.size() || s_[pos_] != '>') return fail("a malformed end tag </" + name);
        ++pos_;
        if (open.empty() || open.back() != name) {
          return fail("</" + name + "> closes " +
                      (open.empty() ? std::string("nothing") : "<" + open.back() + ">"));
        }
        open.pop_back();
      } else {
        ++pos_;
        const std::string name = read_name();
        if (name.empty()) return fail("a '<' that starts no tag");
        if (open.empty() && ++roots > 1) return fail("a second root element <" + name + ">");
        std::set<std::string> attributes;
        while (true) {
          const bool spaced = skip_space();
          if (pos_ >= s_.size()) return fail("an unterminated tag <" + name);
          if (s_[pos_] == '>') {
            ++pos_;
            open.push_back(name);
            break;
          }
          if (starts("/>")) {
            pos_ += 2;
            break;
          }
          if (!spaced) return fail("no space before an attribute of <" + name + ">");
          const std::string attribute = read_name();
          if (attribute.empty()) return fail("a malformed attribute in <" + name + ">");
          if (!attributes.insert(attribute).second)
            return fail("attribute " + attribute + " twice in <" + name + ">");
          skip_space();
          if (pos_ >= s_.size() || s_[pos_] != '=')
            return fail("attribute " + attribute + " without a value");
          ++pos_;
          skip_space();
          if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\''))
            return fail("unquoted attribute " + attribute);
          const char quote = s_[pos_++];
          while (pos_ < s_.size() && s_[pos_] != quote) {
            if (s_[pos_] == '<') return fail("a '<' in attribute " + attribute);
            if (s_[pos_] == '&') {
              if (!entity()) return fail("a bare '&' in attribute " + attribute);
              continue;
            }
            ++pos_;
          }
          if (pos_ >= s_.size()) return fail("an unterminated value of attribute " + attribute);
          ++pos_;
        }
      }
    }
    if (!open.empty()) return fail("<" + open.back() + "> is never closed");
    if (roots == 0) return fail("no root element");
    return "";
  }

 private:
  bool starts(const char* prefix) const {
    return s_.compare(pos_, std::char_traits<char>::length(prefix), prefix) == 0;
  }
  bool skip_past(const char* end) {
    const size_t at = s_.find(end, pos_);
    if (at == std::string::npos) return false;
    pos_ = at + std::char_traits<char>::length(end);
    return true;
  }
  bool skip_space() {
    const size_t start = pos_;
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    return pos_ > start;
  }
  std::string read_name() {
    const size_t start = pos_;
    auto ok = [](char c, bool first) {
      return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
             (!first && (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'));
    };
    while (pos_ < s_.size() && ok(s_[pos_], pos_ == start)) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  // At '&': consumes a predefined or numeric entity; false for anything else.
  bool entity() {
    const size_t end = s_.find(';', pos_);
    if (end == std::string::npos || end - pos_ > 10) return false;
    const std::string body = s_.substr(pos_ + 1, end - pos_ - 1);
    bool ok = body == "amp" || body == "lt" || body == "gt" || body == "quot" || body == "apos";
    if (!ok && body.size() >= 2 && body[0] == '#') {
      const bool hex = body[1] == 'x';
      const std::string digits = body.substr(hex ? 2 : 1);
      ok = !digits.empty() && digits.find_first_not_of(hex ? "0123456789abcdefABCDEF"
                                                           : "0123456789") == std::string::npos;
    }
    if (ok) pos_ = end + 1;
    return ok;
  }
  std::string fail(const std::string& what) const {
    const auto line =
        1 + std::count(s_.begin(),
                       s_.begin() + static_cast<std::ptrdiff_t>(std::min(pos_, s_.size())), '\n');
    return "line " + std::to_string(line) + ": " + what;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

std::string xml_error(const std::string& text) { return XmlScanner(text).run(); }

}  // namespace lowbit
