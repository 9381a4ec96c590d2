// lowbit-report's settings (apps/train/report_config.h): the activation report only when
// --data-dir is given (an empty one included: it means the default data directory).
#include "apps/train/report_config.h"

#include <catch2/catch.hpp>

#include "tests/parse_flags.h"

using namespace lowbit;

namespace {

const auto parsed = testing::parser_with_checkpoint(add_report_flags, "run/last.ckpt");

}  // namespace

TEST_CASE("lowbit-report reads test images only when --data-dir is given", "[apps][report]") {
  const ReportConfig plain = parsed("");
  CHECK_FALSE(plain.data_dir.has_value());
  CHECK(plain.images == 256);
  CHECK(plain.csv.empty());
  CHECK(plain.html.empty());
  CHECK(parsed("--data-dir data/mnist").data_dir == std::optional<std::string>("data/mnist"));
  const ReportConfig c = parsed("--csv w.csv --html r.html --images 64 --threads 2");
  CHECK(c.csv == "w.csv");
  CHECK(c.html == "r.html");
  CHECK(c.images == 64);
  CHECK(c.threads == 2);
  CHECK_THROWS_AS(parsed("--images 0"), CLI::ValidationError);
}

TEST_CASE("an empty --data-dir asks for the activation report from the default data directory",
          "[apps][report]") {
  CLI::App app;  // argv as a shell passes --data-dir "" (a command-line string would drop the empty
                 // word)
  ReportConfig c;
  add_report_flags(app, c);
  const char* argv[] = {"lowbit-report", "--checkpoint", "run/last.ckpt", "--data-dir", ""};
  app.parse(5, argv);
  CHECK(c.data_dir == std::optional<std::string>(""));
}
