// lowbit-levels end to end: the curve command draws each backward proxy of the power-of-two
// activation from the layer's real backward, best-q2 prints the minimum of eq. 6, bad flags exit 2.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/program_runs.h"

using namespace lowbit::testing;

namespace {

// The slope column of `csv` (x,value,slope rows after a header), keyed by row.
std::vector<float> slopes_of(const std::string& csv) {
  std::stringstream in(csv);
  std::string line;
  std::getline(in, line);
  std::vector<float> slopes;
  while (std::getline(in, line)) slopes.push_back(std::stof(line.substr(line.rfind(',') + 1)));
  return slopes;
}

}  // namespace

TEST_CASE("lowbit-levels curve plots the eq. 7 and the clipped backward of the same forward",
          "[apps][levels]") {
  // x = -1, -0.5, ..., 1 with q2 = 0.25, 3 bits: levels 0, 0.25, 0.5; last threshold 0.375.
  const std::string common =
      std::string(LOWBIT_LEVELS_BIN) + " curve --bits 3 --q2 0.25 --min -1 --max 1 --points 9";
  const CommandResult eq7 = run_command(common + " --backward eq7");
  const CommandResult clipped = run_command(common + " --backward clipped");
  INFO(eq7.output << clipped.output);
  REQUIRE(eq7.status == 0);
  REQUIRE(clipped.status == 0);
  // eq. 7: 1 / (|x| - (0.375 - 1)) beyond 0.375, 1 between 0.125 and 0.375, 0 in the dead zone.
  const std::vector<float> e = slopes_of(eq7.output), c = slopes_of(clipped.output);
  REQUIRE(e.size() == 9);
  CHECK(e[0] == Approx(1.0 / 1.625));  // x = -1
  CHECK(e[3] == Approx(1.0));          // x = -0.25
  CHECK(e[4] == 0.0f);                 // x = 0
  CHECK(e[6] == Approx(1.0 / 1.125));  // x = 0.5
  // clipped: 1 up to the top level 0.5, dead zone included; 0 beyond.
  CHECK(c == std::vector<float>{0, 0, 1, 1, 1, 1, 1, 0, 0});
  // The forward values (the middle column) are the same.
  auto values = [](const std::string& csv) {
    std::stringstream in(csv);
    std::string line, all;
    while (std::getline(in, line)) all += line.substr(0, line.rfind(',')) + "\n";
    return all;
  };
  CHECK(values(eq7.output) == values(clipped.output));

  const CommandResult best = run_command(std::string(LOWBIT_LEVELS_BIN) + " best-q2 --bits 3");
  CHECK(best.status == 0);
  CHECK(best.output.find("3,0.8429") != std::string::npos);
  const CommandResult bad = run_command(common + " --backward ste");
  CHECK(bad.status == 2);
  CHECK(bad.output.find("--backward") != std::string::npos);
  CHECK(bad.output.find("Run with --help for the subcommands and flags.") != std::string::npos);
}

TEST_CASE("the old name lowbit-quantizer still runs lowbit-levels, with a notice",
          "[apps][levels]") {
  const CommandResult now = run_command(std::string(LOWBIT_LEVELS_BIN) + " best-q2 --bits 3");
  const CommandResult old = run_command(std::string(LOWBIT_OLD_LEVELS_BIN) + " best-q2 --bits 3");
  REQUIRE(now.status == 0);
  REQUIRE(old.status == 0);
  CHECK(now.output.find("is now called") == std::string::npos);
  CHECK(old.output.find("lowbit-quantizer is now called lowbit-levels") != std::string::npos);
  CHECK(old.output.find(now.output) != std::string::npos);  // the same result after the notice
  const CommandResult bad = run_command(std::string(LOWBIT_OLD_LEVELS_BIN) + " best-q2 --bits 40");
  CHECK(bad.status == 2);
  CHECK(bad.output.find("lowbit-quantizer: --bits") != std::string::npos);
}
