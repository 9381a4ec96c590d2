// lowbit-ptq's settings (apps/ptq/ptq_config.h): the flags' defaults and parsing, the sweep options
// they ask for, bad values refused before any file is read, and the default output directory.
#include "apps/ptq/ptq_config.h"

#include <catch2/catch.hpp>

#include "tests/parse_flags.h"

using namespace lowbit;

namespace {

const auto parsed = testing::parser_with_checkpoint(add_ptq_flags, "runs/a/last.ckpt");

}  // namespace

TEST_CASE("the default lowbit-ptq settings sweep the four schemes at 8..2 bits per tensor",
          "[ptq]") {
  const PtqConfig c = parsed("");
  const PtqSweepOptions o = c.sweep_options();
  CHECK(o.schemes == std::vector<PtqScheme>{PtqScheme::kAsymmetric, PtqScheme::kSymmetric,
                                            PtqScheme::kPow2, PtqScheme::kPow2Free});
  CHECK(o.bits == std::vector<int>{8, 7, 6, 5, 4, 3, 2});
  CHECK(o.granularity == Granularity::kScalar);
  CHECK(o.targets.biases);
  CHECK(o.targets.bn == PtqBn::kAffine);
  CHECK(o.compression.enabled);
  CHECK(o.compression.gzip_level == 6);
  CHECK(o.compression.xz_preset == 6);
  CHECK(o.groups.empty());
  CHECK(c.analysis_bits == std::vector<int>{3});
  CHECK(c.output_dir() == "runs/a/ptq-tensor");
}

TEST_CASE("lowbit-ptq flags reach the sweep options", "[ptq]") {
  const PtqConfig c = parsed(
      "--schemes sym,pow2-free --bits 6,3 --granularity channel --bn all --skip-bias --no-compress "
      "--gzip-level 9 --xz-preset 0 --merge-classes 3,5 --merge-classes 4,9 --analysis-bits 3,6 "
      "--layers all --out elsewhere");
  const PtqSweepOptions o = c.sweep_options();
  CHECK(o.schemes == std::vector<PtqScheme>{PtqScheme::kSymmetric, PtqScheme::kPow2Free});
  CHECK(o.bits == std::vector<int>{6, 3});
  CHECK(o.granularity == Granularity::kVector);
  CHECK_FALSE(o.targets.biases);
  CHECK(o.targets.bn == PtqBn::kAll);
  CHECK_FALSE(o.compression.enabled);
  CHECK(o.compression.gzip_level == 9);
  CHECK(o.compression.xz_preset == 0);
  CHECK(c.merge_classes == std::vector<std::string>{"3,5", "4,9"});
  CHECK(c.analysis_bits == std::vector<int>{3, 6});
  CHECK(c.layers == std::vector<std::string>{"all"});
  CHECK(c.output_dir() == "elsewhere");
  CHECK(parsed("--granularity channel").output_dir() == "runs/a/ptq-channel");
}

TEST_CASE("bad lowbit-ptq settings are refused by the flag or before the sweep", "[ptq]") {
  CHECK_THROWS_AS(parsed("--granularity row"), CLI::ValidationError);
  CHECK_THROWS_AS(parsed("--bn some"), CLI::ValidationError);
  CHECK_THROWS_AS(parsed("--histogram-scheme pow2-free"), CLI::ValidationError);
  CHECK_THROWS_WITH(parsed("--schemes log").sweep_options(), Catch::Contains("'log'"));
  PtqConfig none = parsed("");
  none.schemes.clear();
  CHECK_THROWS_WITH(none.sweep_options(), Catch::Contains("--schemes: name at least one scheme"));
  // Bit widths are checked whatever the schemes: pow2-free alone has none of its own.
  CHECK_THROWS_WITH(parsed("--schemes pow2-free --bits 1").sweep_options(),
                    Catch::Contains("bit width 1"));
  CHECK_THROWS_WITH(parsed("--analysis-bits 17").sweep_options(), Catch::Contains("bit width 17"));
}
