// One self-contained HTML page for a run or a sweep: headings, text, tables and inline SVG
// figures, no scripts, no external files, so it opens in any browser without a server. The
// page is well-formed XML (XHTML syntax), so XML tools can check and read it too.
#pragma once

#include <string>
#include <vector>

namespace lowbit {

struct HtmlTable {
  std::string caption;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct HtmlSection {
  std::string heading;
  std::vector<std::string> paragraphs;  // plain text (escaped)
  std::vector<HtmlTable> tables;
  std::vector<std::string> figures;  // SVG documents (an XML prolog is dropped when inlined)
};

std::string html_report(const std::string& title, const std::vector<HtmlSection>& sections);

// A table from CSV text (first line the header; no quoted fields, as lowbit writes them).
HtmlTable html_table_from_csv(const std::string& caption, const std::string& csv);

// Empty when `text` is well-formed XML (one root element, every element closed and properly
// nested, attributes quoted and unique, '<' and '&' only as markup or entities; a prolog,
// a DOCTYPE and comments allowed), else what is wrong and at which line. Checks the SVG
// figures and the page without an XML library.
std::string xml_error(const std::string& text);

}  // namespace lowbit
