// ListOps: generator labels against the independent stack evaluator, LRA's length rule,
// deduplication, determinism, the TSV reader on ../shared/data/listops_sample.tsv, bad files.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "apps/listops.h"

using namespace attn::listops;

TEST_CASE("the evaluator follows the rules (MIN, MAX, MED with even counts, SM)") {
  // MAX(2, MIN(9, 4)) = 4, the README's example
  CHECK(evaluate({kMax, kDigit0 + 2, kMin, kDigit0 + 9, kDigit0 + 4, kClose, kClose}) == 4);
  CHECK(evaluate({kMed, kDigit0 + 1, kDigit0 + 8, kClose}) == 4);                 // floor(9/2)
  CHECK(evaluate({kMed, kDigit0 + 7, kDigit0 + 1, kDigit0 + 3, kClose}) == 3);
  CHECK(evaluate({kSm, kDigit0 + 7, kDigit0 + 8, kDigit0 + 9, kClose}) == 4);     // 24 % 10
  CHECK(evaluate({kDigit0 + 5}) == 5);
  CHECK_THROWS(evaluate({kMax, kDigit0 + 1}));
  CHECK_THROWS(evaluate({kDigit0 + 1, kClose}));
}

TEST_CASE("generated examples: labels match the evaluator, lengths obey the strict range, no duplicates") {
  GeneratorOptions o;
  o.min_length = 100, o.max_length = 500, o.seed = 3;
  const auto examples = generate(300, o);
  CHECK(examples.size() == 300);
  std::set<std::vector<int32_t>> distinct;
  std::vector<int> per_label(10, 0);
  for (const auto& ex : examples) {
    CHECK(static_cast<int64_t>(ex.tokens.size()) > 100);
    CHECK(static_cast<int64_t>(ex.tokens.size()) < 500);
    CHECK(evaluate(ex.tokens) == ex.label);
    distinct.insert(ex.tokens);
    per_label[ex.label]++;
  }
  CHECK(distinct.size() == 300);
  for (int count : per_label) CHECK(count > 0);  // every class occurs
  // Same seed, same data; another seed, other data.
  CHECK(generate(20, o)[7].tokens == generate(20, o)[7].tokens);
  GeneratorOptions other = o;
  other.seed = 4;
  CHECK(generate(20, other)[0].tokens != generate(20, o)[0].tokens);
}

TEST_CASE("a split with a lower training floor: ranges kept, test trees never in training") {
  GeneratorOptions o;
  o.min_length = 100, o.max_length = 300, o.seed = 5;
  const auto [train, test] = generate_split(400, 100, o, 10);
  REQUIRE(train.size() == 400);
  REQUIRE(test.size() == 100);
  std::set<std::vector<int32_t>> in_train;
  int64_t below_test_floor = 0;
  for (const auto& ex : train) {
    CHECK(static_cast<int64_t>(ex.tokens.size()) > 10);
    CHECK(static_cast<int64_t>(ex.tokens.size()) < 300);
    CHECK(evaluate(ex.tokens) == ex.label);
    below_test_floor += ex.tokens.size() <= 100;
    in_train.insert(ex.tokens);
  }
  CHECK(below_test_floor > 100);  // the wider range is really used
  for (const auto& ex : test) {
    CHECK(static_cast<int64_t>(ex.tokens.size()) > 100);
    CHECK(static_cast<int64_t>(ex.tokens.size()) < 300);
    CHECK(evaluate(ex.tokens) == ex.label);
    CHECK(in_train.count(ex.tokens) == 0);
  }
  // Same floors: one stream, the same sets as generate() gives.
  const auto [same_train, same_test] = generate_split(30, 10, o, 100);
  const auto all = generate(40, o);
  CHECK(same_train[29].tokens == all[29].tokens);
  CHECK(same_test[0].tokens == all[30].tokens);
}

TEST_CASE("LRA's TSV sample parses and every label matches the evaluator") {
  const char* dir = std::getenv("ATTN_SHARED_DATA");
  const std::string path = std::string(dir ? dir : "../shared/data") + "/listops_sample.tsv";
  if (!std::filesystem::exists(path)) {
    MESSAGE("skipped: " << path << " not found");
    return;
  }
  const auto examples = read_tsv(path);
  CHECK(examples.size() == 10000);
  int matched = 0;
  for (const auto& ex : examples) matched += evaluate(ex.tokens) == ex.label;
  CHECK(matched == 10000);
}

TEST_CASE("bad ListOps files give clear errors with the line number") {
  const std::string path = (std::filesystem::temp_directory_path() / "attn_listops_bad.tsv").string();
  auto write = [&](const std::string& text) { std::ofstream(path, std::ios::binary) << text; };
  write("Source\tTarget\r\n( ( [MAX 2 ) 3 ) ] )\t3\r\n");
  CHECK(read_tsv(path).size() == 1);  // CRLF tolerated
  write("Src\tTgt\n");
  CHECK_THROWS_WITH(read_tsv(path), doctest::Contains(":1: expected the header"));
  write("Source\tTarget\n[MAX 2 3 ]\t3\n[MAX 2 [FOO ]\t1\n");
  CHECK_THROWS_WITH(read_tsv(path), doctest::Contains(":3: unknown token '[FOO'"));
  write("Source\tTarget\n[MAX 2 3 ]\t12\n");
  CHECK_THROWS_WITH(read_tsv(path), doctest::Contains(":2: label '12' is not a digit"));
  write("Source\tTarget\n[MAX 2 3 ]\n");
  CHECK_THROWS_WITH(read_tsv(path), doctest::Contains(":2: expected two tab-separated columns"));
}

TEST_CASE("the outer-operator shortcut: best label per first token, learned from training data") {
  auto ex = [](std::vector<int32_t> tokens) { return Example{tokens, evaluate(tokens)}; };
  const Example max9 = ex({kMax, kDigit0 + 9, kDigit0 + 1, kClose});     // 9
  const Example max7 = ex({kMax, kDigit0 + 7, kDigit0 + 2, kClose});     // 7
  const Example min0 = ex({kMin, kDigit0 + 0, kDigit0 + 5, kClose});     // 0
  const Example sm3 = ex({kSm, kDigit0 + 1, kDigit0 + 2, kClose});       // 3
  // Training: MAX mostly gives 9, MIN gives 0; SM never occurs (falls back to the overall
  // most frequent label, 9).
  const std::vector<Example> train = {max9, max9, max7, min0};
  CHECK(outer_operator_baseline(train, {max9, max7, min0, sm3}) == doctest::Approx(0.5));
  CHECK(outer_operator_baseline(train, {max9, min0}) == doctest::Approx(1.0));
  CHECK(outer_operator_baseline(train, {}) == 0);
  // On generated data it lies between the majority class and certainty.
  GeneratorOptions o;
  o.min_length = 100, o.max_length = 500, o.seed = 5;
  const auto data = generate(1000, o);
  const std::vector<Example> first(data.begin(), data.begin() + 800), rest(data.begin() + 800, data.end());
  const double shortcut = outer_operator_baseline(first, rest);
  CHECK(shortcut > 0.25);
  CHECK(shortcut < 0.45);
}
