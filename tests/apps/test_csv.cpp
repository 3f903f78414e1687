// The label,text CSV reader: RFC 4180 quoting, and clear errors with line numbers.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "apps/csv.h"

using namespace attn;

TEST_CASE("quoting, embedded commas, quotes and line breaks, empty text, CRLF") {
  const auto rows = parse_labeled_csv(
      "label,text\r\n0,plain\r\n1,\"a, b\"\r\n2,\"say \"\"hi\"\"\"\n3,\"two\nlines\"\n1,\n0,\"\"\n",
      "t.csv", 4);
  REQUIRE(rows.size() == 6);
  CHECK(rows[0].text == "plain");
  CHECK(rows[1].text == "a, b");
  CHECK(rows[2].text == "say \"hi\"");
  CHECK(rows[3].text == "two\nlines");
  CHECK(rows[3].label == 3);
  CHECK(rows[4].text.empty());
  CHECK(rows[5].text.empty());
}

TEST_CASE("bad CSV: the line number and the problem") {
  CHECK_THROWS_WITH(parse_labeled_csv("", "t.csv"), doctest::Contains("t.csv: the file is empty"));
  CHECK_THROWS_WITH(parse_labeled_csv("text,label\n", "t.csv"), doctest::Contains("t.csv:1: expected the header"));
  CHECK_THROWS_WITH(parse_labeled_csv("label,text\n0,a\n1,b,c\n", "t.csv"),
                    doctest::Contains("t.csv:3: expected 2 columns (label,text), found 3"));
  CHECK_THROWS_WITH(parse_labeled_csv("label,text\n0,\"a\nb\"\n7,x\n", "t.csv", 4),
                    doctest::Contains("t.csv:4: label 7 is outside [0, 4)"));
  CHECK_THROWS_WITH(parse_labeled_csv("label,text\n-1,x\n", "t.csv"),
                    doctest::Contains("t.csv:2: label '-1' is not a non-negative integer"));
  CHECK_THROWS_WITH(parse_labeled_csv("label,text\n0,\"never closed\n", "t.csv"),
                    doctest::Contains("t.csv:2: a quoted field is never closed"));
  CHECK_THROWS_WITH(parse_labeled_csv("label,text\n0,ab\"c\n", "t.csv"),
                    doctest::Contains("t.csv:2: a quote inside an unquoted field"));
  CHECK_THROWS_WITH(read_labeled_csv("/nonexistent/x.csv"), doctest::Contains("does not exist"));
}

TEST_CASE("AG News files from ../shared/data read completely") {
  const char* dir = std::getenv("ATTN_SHARED_DATA");
  const std::string base = std::string(dir ? dir : "../shared/data");
  if (!std::filesystem::exists(base + "/ag_news_train.csv")) {
    MESSAGE("skipped: AG News not found under " << base);
    return;
  }
  const auto train = read_labeled_csv(base + "/ag_news_train.csv", 4);
  const auto test = read_labeled_csv(base + "/ag_news_test.csv", 4);
  CHECK(train.size() == 6000);
  CHECK(test.size() == 1600);
  int quotes = 0;
  for (const auto& r : train) quotes += r.text.find('"') != std::string::npos;
  for (const auto& r : test) quotes += r.text.find('"') != std::string::npos;
  CHECK(quotes == 281);  // the data README counts 281 texts with a quote
}
