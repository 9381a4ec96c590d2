// lowbit-eval's settings (apps/train/eval_config.h): flip averaging as given or as the run, and
// the default paths of the confusion matrix and its heat map.
#include "apps/train/eval_config.h"

#include <catch2/catch.hpp>

#include "tests/parse_flags.h"

using namespace lowbit;

namespace {

const auto parsed = testing::parser_with_checkpoint(add_eval_flags, "run/best.ckpt");

}  // namespace

TEST_CASE("lowbit-eval flip-averages as the run was validated unless told", "[apps][eval]") {
  CHECK(parsed("").flip_average(true));
  CHECK_FALSE(parsed("").flip_average(false));
  CHECK(parsed("--tta-flip").flip_average(false));
  CHECK_FALSE(parsed("--no-tta-flip").flip_average(true));
  CHECK_FALSE(parsed("--tta-flip --no-tta-flip").flip_average(true));
}

TEST_CASE(
    "lowbit-eval writes the confusion matrix beside the checkpoint and its heat map beside the CSV",
    "[apps][eval]") {
  const EvalConfig plain = parsed("");
  CHECK(plain.csv_path() == "run/best.ckpt.confusion.csv");
  CHECK(plain.svg_path() == "run/best.ckpt.confusion.svg");
  CHECK(parsed("--csv out/m.csv").svg_path() == "out/m.svg");
  CHECK(parsed("--csv out/m.txt").svg_path() == "out/m.txt.svg");
  CHECK(parsed("--csv out/m.csv --svg map.svg").svg_path() == "map.svg");
  CHECK_THROWS_WITH(parsed("--csv m.csv --svg m.csv").svg_path(),
                    "--svg m.csv: the same file as --csv; expected another path");
  const EvalConfig c =
      parsed("--integer --recalibrate-bn 500 --batch-size 32 --json r.json --data-dir d");
  CHECK(c.integer);
  CHECK(c.recalibrate_bn == 500);
  CHECK(c.batch_size == 32);
  CHECK(c.json == "r.json");
  CHECK(c.data_dir == "d");
  CHECK_THROWS_AS(parsed("--batch-size 0"), CLI::ValidationError);
}
