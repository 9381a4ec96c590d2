// check_stored_settings: a file's settings meet the checks of the flags that set them. Checked on
// a small App of its own, then on lowbit-quantize's stored configuration (the FAT checkpoint's
// "quantize_config"), whose mode "float" and 2^31 bits were once accepted.
#include "apps/common/stored_settings.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/fat/quantize_config.h"
#include "core/check.h"

using namespace lowbit;

namespace {

struct Settings {
  int count = 3;
  double rate = -1;  // -1: resolved later, outside the flag's range
  std::string kind = "a";
  bool on = false;
};

void add_flags(CLI::App& app, Settings& s) {
  app.add_option("--count", s.count)->check(CLI::Range(1, 10));
  app.add_option("--rate", s.rate)->check(CLI::Range(0.0, 1.0));
  app.add_option("--kind", s.kind)->check(CLI::IsMember({"a", "b"}));
  app.add_flag("--on", s.on);
}

const nlohmann::json kDefaults = {{"count", 3}, {"rate", -1.0}, {"kind", "a"}, {"on", false}};

std::string key_of(const CLI::Option& option) { return option.get_name().substr(2); }

void check(const nlohmann::json& stored) {
  Settings scratch;
  CLI::App app;
  add_flags(app, scratch);
  check_stored_settings(app, stored, kDefaults, "/settings", key_of);
}

}  // namespace

TEST_CASE("stored settings pass or fail as their flags would", "[stored_settings]") {
  CHECK_NOTHROW(check({{"count", 10}, {"rate", 0.5}, {"kind", "b"}, {"on", true}}));
  CHECK_NOTHROW(check(kDefaults));
  CHECK_NOTHROW(check(nlohmann::json::object()));
  CHECK_NOTHROW(check({{"unknown", "anything"}}));  // keys no flag sets are not this check's
  // The default stands even outside the flag's range.
  CHECK_NOTHROW(check({{"rate", -1}}));
  CHECK_THROWS_WITH(
      check({{"count", 11}}),
      "key /settings/count: 11 is refused by --count (Value 11 not in range 1 to 10)");
  CHECK_THROWS_WITH(check({{"count", 2147483648u}}),
                    Catch::StartsWith("key /settings/count: 2147483648 is refused by --count ("));
  CHECK_THROWS_WITH(check({{"count", 2.5}}),
                    Catch::StartsWith("key /settings/count: 2.5 is refused by --count ("));
  CHECK_THROWS_WITH(check({{"rate", -0.5}}),
                    Catch::StartsWith("key /settings/rate: -0.5 is refused by --rate ("));
  CHECK_THROWS_WITH(check({{"kind", "c"}}),
                    Catch::StartsWith("key /settings/kind: c is refused by --kind (") &&
                        Catch::Contains("c not in {a,b}"));
  // Control bytes in a stored value are escaped, the message stays one line.
  CHECK_THROWS_WITH(check({{"kind", std::string("x\ny\0z", 5)}}),
                    !Catch::Contains("\n") && Catch::Contains("x\\x0ay\\x00z"));
}

TEST_CASE("a stored FAT configuration is checked as lowbit-quantize's flags", "[stored_settings]") {
  QuantizeConfig c;
  c.checkpoint = "runs/m/best.ckpt";
  const nlohmann::json saved = to_json(c);
  CHECK(to_json(quantize_config_from_json(saved, "/quantize_config")) == saved);
  const std::vector<std::pair<std::string, nlohmann::json>> refused = {
      {"mode", "float"},     {"bits", 1},          {"bits", 9}, {"thresholds", "none"},
      {"epochs", -1},        {"data_fraction", 0}, {"lr", 100}, {"calibration_images", 0},
      {"eval_batch_size", 0}};
  nlohmann::json wide = saved;
  wide["bits"] = 2147483648u;  // named as stored, not as the int it would wrap to
  CHECK_THROWS_WITH(quantize_config_from_json(wide, "/quantize_config"),
                    "key /quantize_config/bits: 2147483648 is out of its integer's range");
  for (const auto& [key, value] : refused) {
    nlohmann::json mutant = saved;
    mutant[key] = value;
    INFO(key << " = " << value.dump());
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    CHECK_THROWS_WITH(
        quantize_config_from_json(mutant, "/quantize_config"),
        Catch::StartsWith("key /quantize_config/" + key + ": " + text + " is refused by --"));
  }
}
