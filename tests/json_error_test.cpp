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
