// The confusion matrix (apps/train/confusion_matrix.h): its sums on a matrix small enough to count
// by hand, the CSV written and read back unchanged, and one named error for each malformed file.
#include "apps/train/confusion_matrix.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <utility>
#include <vector>

#include "tests/not_regular_files.h"
#include "tests/temp_root.h"

using namespace lowbit;

namespace {

// Three classes, 25 images, 21 on the diagonal.
ConfusionMatrix three_classes() { return {{"cat", "dog", "b w"}, {5, 1, 0, 2, 7, 1, 0, 0, 9}}; }

}  // namespace

TEST_CASE("a confusion matrix's sums and per-class accuracy", "[confusion]") {
  const ConfusionMatrix m = three_classes();
  CHECK(m.classes() == 3);
  CHECK(m.at(1, 0) == 2);
  CHECK(m.images_of(0) == 6);
  CHECK(m.images_of(1) == 10);
  CHECK(m.total() == 25);
  CHECK(m.accuracy() == Approx(84.0));
  CHECK(m.class_accuracy(0) == Approx(500.0 / 6));
  CHECK(m.class_accuracy(1) == Approx(70.0));
  CHECK(m.class_accuracy(2) == Approx(100.0));
  CHECK(m.most_confused_with(0) == 1);
  CHECK(m.most_confused_with(1) == 0);  // two cats against one b w
  CHECK(m.most_confused_with(2) == -1);
  // A class without images has accuracy 0; on a tie the first class wins.
  const ConfusionMatrix empty_row{{"a", "b", "c"}, {0, 0, 0, 0, 1, 1, 0, 0, 1}};
  CHECK(empty_row.class_accuracy(0) == 0.0);
  CHECK(empty_row.most_confused_with(0) == -1);
  const ConfusionMatrix tie{{"a", "b", "c"}, {1, 2, 2, 0, 1, 0, 0, 0, 1}};
  CHECK(tie.most_confused_with(0) == 1);
  CHECK(ConfusionMatrix{}.accuracy() == 0.0);
}

TEST_CASE("the confusion CSV is read back as it was written", "[confusion]") {
  const std::string csv = confusion_csv(three_classes());
  CHECK(csv == "true\\predicted,cat,dog,b w\ncat,5,1,0\ndog,2,7,1\nb w,0,0,9\n");
  const ConfusionMatrix back = parse_confusion_csv(csv, "m.csv");
  CHECK(back.class_names == three_classes().class_names);
  CHECK(back.counts == three_classes().counts);
  // Line ends saved as CRLF and a missing final newline are accepted.
  CHECK(parse_confusion_csv("true\\predicted,a,b\r\na,1,2\r\nb,3,4", "m.csv").counts ==
        std::vector<int64_t>{1, 2, 3, 4});
  CHECK_THROWS_WITH(confusion_csv({{"a"}, {1, 2}}),
                    Catch::Contains("2 counts for 1 class names; expected 1"));
}

TEST_CASE("a malformed confusion CSV is named with what was expected", "[confusion]") {
  const std::string header = "expected the header true\\predicted,<class names>";
  const std::string count = "expected a count (a non-negative integer)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty; expected a confusion matrix as CSV, header true\\predicted,<class names>"},
      {"epoch,loss\n1,2\n", "line 1 is \"epoch,loss\"; " + header},
      {"true\\predicted\n", "line 1 is \"true\\predicted\"; " + header},
      {"true\\predicted,a,b\na,1,2\n", "1 row; expected 2, one per class of the header"},
      {"true\\predicted,a,b\na,1,2\nb,3,4\nc,5,6\n",
       "3 rows; expected 2, one per class of the header"},
      {"true\\predicted,a,b\na,1,2\nb,3\n",
       "line 3 has 2 cells; expected 3 (the class name and 2 counts)"},
      {"true\\predicted,a,b\na,1,2\nb,3,4,\n",
       "line 3 has 4 cells; expected 3 (the class name and 2 counts)"},
      {"true\\predicted,a,b\nb,1,2\na,3,4\n",
       "line 2 is the row of \"b\"; expected \"a\", the header's class 1"},
      {"true\\predicted,a,b\na,1,-2\nb,3,4\n", "line 2, column 3 is \"-2\"; " + count},
      {"true\\predicted,a,b\na,1,2\nb,3.5,4\n", "line 3, column 2 is \"3.5\"; " + count},
      {"true\\predicted,a,b\na,1,\nb,3,4\n", "line 2, column 3 is \"\"; " + count},
      {"true\\predicted,a,b\na,1,99999999999999999999\nb,3,4\n",
       "line 2, column 3 is \"99999999999999999999\"; " + count},
  };
  for (const auto& c : cases) {
    INFO(c.first);
    CHECK_THROWS_WITH(parse_confusion_csv(c.first, "run/test_confusion.csv"),
                      "run/test_confusion.csv: " + c.second);
  }
}

TEST_CASE("a confusion CSV file that cannot be read is named", "[confusion]") {
  const testing::TempRoot root("lowbit_confusion_matrix_test");
  const std::filesystem::path dir = root.dir("files");
  CHECK_THROWS_WITH(
      read_confusion_csv((dir / "absent.csv").string()),
      (dir / "absent.csv").string() + ": file not found (expected a confusion matrix as CSV)");
  // /dev/zero would be read forever, a FIFO would block: each is refused by name instead.
  testing::check_refuses_what_is_not_a_regular_file(
      dir / "odd.csv", [&] { read_confusion_csv((dir / "odd.csv").string()); });
  const std::string path = (dir / "m.csv").string();
  std::ofstream(path) << confusion_csv(three_classes());
  CHECK(read_confusion_csv(path).counts == three_classes().counts);
}
