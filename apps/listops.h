// ListOps (Nangia and Bowman 2018; the Long Range Arena version, Tay et al. 2021): nested
// MIN / MAX / MED / SM (sum mod 10) expressions over the digits 0-9; the label is the value.
// A generator that follows LRA's rules (../shared/data/README.md, section 3a), a reader for
// LRA's TSV files, and an evaluator that is independent of the generator (a token stack).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attn::listops {

// Token ids: 0 padding, 1..10 the digits 0..9, then the operators and the closing bracket.
enum Token : int32_t { kPad = 0, kDigit0 = 1, kMin = 11, kMax = 12, kMed = 13, kSm = 14, kClose = 15 };
constexpr int64_t kVocabSize = 16;

struct Example {
  std::vector<int32_t> tokens;  // parentheses removed, as LRA's input pipeline does
  int32_t label;
};

struct GeneratorOptions {
  int64_t max_depth = 10, max_args = 10;
  int64_t min_length = 500, max_length = 2000;  // kept if min_length < length < max_length
  uint64_t seed = 1;
};

// `count` distinct examples (duplicates dropped, as LRA's set does), labels from the tree.
std::vector<Example> generate(int64_t count, const GeneratorOptions& options);

// A training and a test set of distinct trees: the test set with lengths in options' range,
// the training set in (train_min_length, options.max_length). When the floors differ the two
// sets come from unrelated seeds and no test tree occurs in the training set.
std::pair<std::vector<Example>, std::vector<Example>> generate_split(
    int64_t train_count, int64_t test_count, const GeneratorOptions& options, int64_t train_min_length);

// The value of a token sequence, computed with a stack (throws on a malformed sequence).
int32_t evaluate(const std::vector<int32_t>& tokens);

// LRA's TSV: header "Source<TAB>Target", one "<expression><TAB><label>" per line, CRLF
// tolerated, parentheses stripped, "]" a token. Errors name the file and line.
std::vector<Example> read_tsv(const std::string& path);
// The same on text in memory (`source` names it in errors; the fuzzer's entry).
std::vector<Example> parse_tsv(std::string content, const std::string& source);

// Test accuracy of the shortcut that reads only the outermost operator: for each first token,
// the label most frequent after it in `train` (MAX -> 9, MIN -> 0, ...). Encoders on ListOps
// plateau at this level until they learn to evaluate what is nested inside; it is the bar
// above which a model shows it has learned more than the first token.
double outer_operator_baseline(const std::vector<Example>& train, const std::vector<Example>& test);

// A token's text: "0".."9", "[MIN", "[MAX", "[MED", "[SM", "]" ("<pad>" for 0, "?" outside).
std::string token_name(int32_t token);

// "[MAX 2 [MIN 9 4 ] ]" (the parenthesis-free form), for messages and debugging.
std::string to_text(const std::vector<int32_t>& tokens);

}  // namespace attn::listops
