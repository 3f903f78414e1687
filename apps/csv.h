// Labelled text from CSV (RFC 4180): a header "label,text", then one record per row. Fields
// may be quoted ("" inside quotes is a quote; quoted fields may hold commas and line breaks);
// CRLF or LF line ends. Errors name the file and the line where the record starts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attn {

struct LabeledText {
  int32_t label;
  std::string text;
};

// A leading UTF-8 byte-order mark is skipped (spreadsheet exports write one).
constexpr int32_t kMaxClasses = 1000;
// num_classes > 0: labels must lie in [0, num_classes); otherwise in [0, kMaxClasses).
std::vector<LabeledText> read_labeled_csv(const std::string& path, int32_t num_classes = 0);

// The parser behind it, on a string (`source` names it in errors); also the fuzz target.
std::vector<LabeledText> parse_labeled_csv(const std::string& content, const std::string& source,
                                           int32_t num_classes = 0);

}  // namespace attn
