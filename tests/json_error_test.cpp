// json_error: nlohmann's messages without their prefix, and with the key at fault named, for a
// single key and for a whole record.
#include "apps/common/json_error.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/check.h"

using namespace lowbit;

namespace {

struct Record {
  int epochs = 1;
  bool augment = true;
  std::vector<double> history;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Record, epochs, augment, history)

struct Epoch {
  int epoch = 0;
  double loss = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Epoch, epoch, loss)
struct Run {
  int epochs_done = 0;
  std::vector<Epoch> history;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Run, epochs_done, history)

}  // namespace

TEST_CASE("json_error_text drops nlohmann's prefix only", "[json_error]") {
  try {
    (void)nlohmann::json(3).get<bool>();
    FAIL("no error");
  } catch (const nlohmann::json::exception& e) {
    CHECK(json_error_text(e) == "type must be boolean, but is number");
  }
  try {
    const nlohmann::json never = nlohmann::json::parse("{\"a\": ");
    FAIL("no error");
  } catch (const nlohmann::json::exception& e) {
    CHECK(json_error_text(e).rfind("parse error at line 1, column 7: ", 0) == 0);
  }
}

TEST_CASE("a JSON value of the wrong type is named by its key", "[json_error]") {
  const nlohmann::json j = nlohmann::json::parse(R"({"augment": 3, "epochs": 2})");
  bool augment = false;
  CHECK_THROWS_WITH(read_json_key(j, "augment", augment),
                    "key /augment: type must be boolean, but is number");
  CHECK_THROWS_WITH(read_json_key(j, "augment", augment, "/train_config"),
                    "key /train_config/augment: type must be boolean, but is number");
  int epochs = 0;
  read_json_key(j, "epochs", epochs);
  CHECK(epochs == 2);
}

TEST_CASE("a record's field of the wrong type is named by its key", "[json_error]") {
  const Record r =
      read_json_record<Record>(R"({"epochs": 4, "augment": false, "history": [1]})"_json);
  CHECK(r.epochs == 4);
  CHECK_THROWS_WITH(read_json_record<Record>(R"({"epochs": 4, "augment": 1, "history": []})"_json),
                    "key /augment: type must be boolean, but is number");
  CHECK_THROWS_WITH(read_json_record<Record>(
                        R"({"epochs": 4, "augment": true, "history": [1, "x"]})"_json, "/progress"),
                    "key /progress/history: type must be number, but is string");
  CHECK_THROWS_WITH(read_json_record<Record>(R"({"epochs": 4, "history": []})"_json),
                    "key 'augment' not found");
  CHECK_THROWS_WITH(read_json_record<Record>(nlohmann::json::array()),
                    "cannot use at() with array");
}

TEST_CASE("a number its integer field cannot hold is refused by key, before it is cast",
          "[json_error]") {
  // Found by the train_config and quantize_config fuzz targets: nlohmann casts a float to an
  // integer (undefined behaviour beyond its range) and narrows a 64-bit integer silently.
  int epochs = 0;
  const nlohmann::json j = nlohmann::json::parse(
      R"({"huge": 1e92, "long": 777777777777777777777777, "half": 2.5, "wide": 4294967304,
          "negative": -1, "whole": 3.0, "fits": 7})");
  CHECK_THROWS_WITH(read_json_key(j, "huge", epochs, "/train_config"),
                    "key /train_config/huge: 1e+92, expected an integer");
  CHECK_THROWS_WITH(read_json_key(j, "long", epochs), Catch::StartsWith("key /long: 7.7") &&
                                                          Catch::EndsWith(", expected an integer"));
  CHECK_THROWS_WITH(read_json_key(j, "half", epochs), "key /half: 2.5, expected an integer");
  CHECK_THROWS_WITH(read_json_key(j, "whole", epochs), "key /whole: 3.0, expected an integer");
  CHECK_THROWS_WITH(read_json_key(j, "wide", epochs),
                    "key /wide: 4294967304 is out of its integer's range");
  uint64_t seed = 0;
  CHECK_THROWS_WITH(read_json_key(j, "negative", seed),
                    "key /negative: -1 is out of its integer's range");
  read_json_key(j, "fits", epochs);
  CHECK(epochs == 7);
  double lr = 0;  // a float field takes any number
  read_json_key(j, "huge", lr);
  CHECK(lr == 1e92);

  // In a record, nested ones too (a progress's history of epochs).
  CHECK_THROWS_WITH(
      read_json_record<Record>(R"({"epochs": 1e10, "augment": true, "history": [1]})"_json, "/p"),
      "key /p/epochs: 10000000000.0, expected an integer");
  CHECK_THROWS_WITH(
      read_json_record<Record>(R"({"epochs": -4294967295, "augment": true, "history": []})"_json),
      "key /epochs: -4294967295 is out of its integer's range");
  const Record r =
      read_json_record<Record>(R"({"epochs": 4, "augment": true, "history": [1e300]})"_json);
  CHECK(r.history == std::vector<double>{1e300});
  CHECK_THROWS_WITH(
      read_json_record<Run>(
          R"({"epochs_done": 2, "history": [{"epoch": 1, "loss": 1e300}, {"epoch": 1e99, "loss": 1}]})"_json),
      "key /history/1/epoch: 1e+99, expected an integer");
  CHECK(read_json_record<Run>(R"({"epochs_done": 2, "history": [{"epoch": 1, "loss": 3}]})"_json)
            .history[0]
            .loss == 3);
}
