// Flag declarations of PtqConfig and the sweep options they ask for.
#include "apps/ptq/ptq_config.h"

#include <filesystem>

#include "apps/common/flags.h"
#include "core/check.h"

namespace lowbit {

PtqSweepOptions PtqConfig::sweep_options() const {
  PtqSweepOptions o;
  o.schemes.clear();
  for (const std::string& name : schemes) o.schemes.push_back(parse_ptq_scheme(name));
  LOWBIT_CHECK(!o.schemes.empty(), "--schemes: name at least one scheme");
  o.bits = bits;
  o.granularity = parse_ptq_granularity(granularity);
  o.targets.biases = !skip_bias;
  o.targets.bn = parse_ptq_bn(bn);
  o.compression.enabled = !no_compress;
  o.compression.gzip_level = gzip_level;
  o.compression.xz_preset = static_cast<uint32_t>(xz_preset);
  // Checked here, before the model and the data are read, whichever schemes are swept.
  for (int b : bits) validate(PtqSpec{PtqScheme::kSymmetric, b, o.granularity});
  for (int b : analysis_bits) validate(PtqSpec{PtqScheme::kSymmetric, b, o.granularity});
  return o;
}

std::string PtqConfig::output_dir() const {
  if (!out.empty()) return out;
  return (std::filesystem::path(checkpoint).parent_path() / ("ptq-" + granularity)).string();
}

void add_ptq_target_flags(CLI::App& app, std::string& granularity, std::string& bn,
                          bool& skip_bias) {
  app.add_option("--granularity", granularity, "one grid per tensor or per output channel")
      ->check(CLI::IsMember({"tensor", "channel"}));
  app.add_option("--bn", bn,
                 "batch-norm tensors to quantize: none, affine (scale and shift), all (also "
                 "running mean and variance)")
      ->check(CLI::IsMember({"none", "affine", "all"}));
  app.add_flag("--skip-bias", skip_bias, "keep convolution and dense biases in float");
}

void add_ptq_flags(CLI::App& app, PtqConfig& c) {
  add_checkpoint_flag(app, c.checkpoint);
  add_run_data_dir_flag(app, c.data_dir, "test data directory");
  app.add_option("--out", c.out,
                 "output directory (default: ptq-<granularity> beside the checkpoint)");
  app.add_option("--schemes", c.schemes,
                 "schemes, comma-separated: asym, sym, pow2 (n-bit exponent range), pow2-free (the "
                 "paper's unbounded power-of-two)")
      ->delimiter(',');
  app.add_option("--bits", c.bits, "bit widths to sweep, comma-separated (2..16)")->delimiter(',');
  add_ptq_target_flags(app, c.granularity, c.bn, c.skip_bias);
  app.add_option("--merge-classes", c.merge_classes,
                 "classes scored as one (Table 2), e.g. cat,dog; repeat for more groups");
  app.add_option("--analysis-bits", c.analysis_bits,
                 "bit widths of the range plots, histograms and confusion plots")
      ->delimiter(',');
  app.add_option(
         "--layers", c.layers,
         "kernels to plot (comma-separated names, or all; default: the 9th kernel, as Figure 1)")
      ->delimiter(',');
  app.add_option("--histogram-scheme", c.histogram_scheme,
                 "scheme whose histograms are drawn at every bit width (Figure 2, right)")
      ->check(CLI::IsMember({"asym", "sym", "pow2"}));
  app.add_option("--bins", c.bins, "histogram bins")->check(CLI::Range(2, 10000));
  app.add_flag("--no-compress", c.no_compress, "skip the gzip and xz sizes");
  app.add_option("--gzip-level", c.gzip_level, "zlib level of the gzip sizes (gzip's default 6)")
      ->check(CLI::Range(1, 9));
  app.add_option("--xz-preset", c.xz_preset, "preset of the xz sizes (xz's default 6)")
      ->check(CLI::Range(0, 9));
  app.add_option("--test-subset", c.test_subset,
                 "evaluate on N test images, every class alike (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}));
  add_batch_size_flag(app, c.batch_size);
  add_threads_flag(app, c.threads);
}

}  // namespace lowbit
