#include "apps/csv.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/files.h"

namespace attn {
namespace {

// Splits the content into records of fields, tracking the line each record starts on.
struct Record {
  int64_t line;
  std::vector<std::string> fields;
};

std::vector<Record> split_records(const std::string& s, const std::string& source) {
  std::vector<Record> records;
  Record current{1, {""}};
  int64_t line = 1;
  bool quoted = false, field_was_quoted = false;
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(source + ":" + std::to_string(current.line) + ": " + what);
  };
  auto end_record = [&] {
    records.push_back(std::move(current));
    current = Record{line, {""}};
    field_was_quoted = false;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') current.fields.back() += '"', ++i;
        else quoted = false;
      } else {
        if (c == '\n') ++line;
        current.fields.back() += c;
      }
      continue;
    }
    if (c == '"') {
      if (!current.fields.back().empty() || field_was_quoted) fail("a quote inside an unquoted field");
      quoted = field_was_quoted = true;
    } else if (c == ',') {
      current.fields.emplace_back();
      field_was_quoted = false;
    } else if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      continue;  // CRLF: the \n ends the record
    } else if (c == '\n') {
      ++line;
      end_record();
    } else {
      if (field_was_quoted) fail("text after a closing quote");
      current.fields.back() += c;
    }
  }
  if (quoted) fail("a quoted field is never closed");
  if (!(current.fields.size() == 1 && current.fields[0].empty() && !field_was_quoted)) end_record();
  return records;
}

}  // namespace

std::vector<LabeledText> parse_labeled_csv(const std::string& content, const std::string& source,
                                           int32_t num_classes) {
  const bool bom = content.compare(0, 3, "\xEF\xBB\xBF") == 0;  // a UTF-8 byte-order mark
  const auto records = split_records(bom ? content.substr(3) : content, source);
  if (records.empty()) throw std::runtime_error(source + ": the file is empty");
  if (records[0].fields != std::vector<std::string>{"label", "text"})
    throw std::runtime_error(source + ":1: expected the header 'label,text'");
  std::vector<LabeledText> rows;
  for (size_t r = 1; r < records.size(); ++r) {
    const Record& rec = records[r];
    const std::string where = source + ":" + std::to_string(rec.line) + ": ";
    if (rec.fields.size() == 1 && rec.fields[0].empty()) continue;  // a blank line
    if (rec.fields.size() != 2)
      throw std::runtime_error(where + "expected 2 columns (label,text), found " +
                               std::to_string(rec.fields.size()));
    const std::string& label = rec.fields[0];
    if (label.empty() || label.size() > 9 || label.find_first_not_of("0123456789") != std::string::npos)
      throw std::runtime_error(where + "label '" + label + "' is not a non-negative integer");
    const int32_t value = std::stoi(label);
    const int32_t limit = num_classes > 0 ? num_classes : kMaxClasses;
    if (value >= limit)
      throw std::runtime_error(where + "label " + label + " is outside [0, " + std::to_string(limit) +
                               ")" + (num_classes > 0 ? "" : " (attn classify takes at most " +
                                                                 std::to_string(kMaxClasses) + " classes)"));
    rows.push_back({value, rec.fields[1]});
  }
  return rows;
}

std::vector<LabeledText> read_labeled_csv(const std::string& path, int32_t num_classes) {
  return parse_labeled_csv(read_regular_file(path, "a CSV file", uint64_t{2} << 30), path, num_classes);
}

}  // namespace attn
