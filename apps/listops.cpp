#include "apps/listops.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "engine/files.h"
#include "engine/rng.h"

namespace attn::listops {
namespace {

int32_t apply(int32_t op, std::vector<int32_t> args) {
  switch (op) {
    case kMin: return *std::min_element(args.begin(), args.end());
    case kMax: return *std::max_element(args.begin(), args.end());
    case kSm: {
      int32_t total = 0;
      for (int32_t a : args) total += a;
      return total % 10;
    }
    case kMed: {  // numpy.median truncated to int: for an even count, floor of the middle mean
      std::sort(args.begin(), args.end());
      const size_t n = args.size();
      return n % 2 ? args[n / 2] : (args[n / 2 - 1] + args[n / 2]) / 2;
    }
  }
  throw std::logic_error("listops: unknown operator");
}

// Appends a random subtree at `depth` to `out` (LRA's recursion) and returns its value.
int32_t grow(std::vector<int32_t>& out, int64_t depth, const GeneratorOptions& o, Rng& rng) {
  const float r = depth < o.max_depth ? rng.uniform() : 1.0f;
  if (r > 0.25f) {  // a leaf
    const int32_t value = static_cast<int32_t>(rng.below(10));
    out.push_back(kDigit0 + value);
    return value;
  }
  const int64_t k = 2 + static_cast<int64_t>(rng.below(o.max_args - 1));  // 2..max_args
  const size_t op_at = out.size();
  out.push_back(kPad);  // the operator, chosen after the children as in LRA's code
  std::vector<int32_t> values;
  for (int64_t i = 0; i < k; ++i) values.push_back(grow(out, depth + 1, o, rng));
  const int32_t op = kMin + static_cast<int32_t>(rng.below(4));
  out[op_at] = op;
  out.push_back(kClose);
  return apply(op, values);
}

int32_t token_of(const std::string& word) {
  if (word.size() == 1 && word[0] >= '0' && word[0] <= '9') return kDigit0 + (word[0] - '0');
  if (word == "[MIN") return kMin;
  if (word == "[MAX") return kMax;
  if (word == "[MED") return kMed;
  if (word == "[SM") return kSm;
  if (word == "]") return kClose;
  return -1;
}

}  // namespace

std::vector<Example> generate(int64_t count, const GeneratorOptions& o) {
  if (o.max_args < 2 || o.max_depth < 1 || o.min_length + 1 >= o.max_length)
    throw std::invalid_argument("listops: need max_args >= 2, max_depth >= 1 and a length range");
  Rng rng(o.seed);
  std::set<std::vector<int32_t>> seen;
  std::vector<Example> out;
  int64_t attempts = 0;
  while (static_cast<int64_t>(out.size()) < count) {
    if (++attempts > 1000 * (count + 100))
      throw std::runtime_error("listops: the length range " + std::to_string(o.min_length) + ".." +
                               std::to_string(o.max_length) + " is (nearly) unreachable with these settings");
    std::vector<int32_t> tokens;
    const int32_t label = grow(tokens, 1, o, rng);
    const auto length = static_cast<int64_t>(tokens.size());
    if (length <= o.min_length || length >= o.max_length) continue;
    if (!seen.insert(tokens).second) continue;
    out.push_back({std::move(tokens), label});
  }
  return out;
}

std::pair<std::vector<Example>, std::vector<Example>> generate_split(
    int64_t train_count, int64_t test_count, const GeneratorOptions& o, int64_t train_min_length) {
  std::vector<Example> train, test;
  if (train_min_length == o.min_length) {  // one stream: distinct across both sets
    auto all = generate(train_count + test_count, o);
    train.assign(all.begin(), all.begin() + train_count);
    test.assign(all.begin() + train_count, all.end());
    return {std::move(train), std::move(test)};
  }
  GeneratorOptions for_train = o;
  for_train.min_length = train_min_length;
  train = generate(train_count, for_train);
  std::set<std::vector<int32_t>> in_train;
  for (const auto& ex : train) in_train.insert(ex.tokens);
  GeneratorOptions for_test = o;
  for_test.seed = o.seed + 0x9e3779b9ULL;  // an unrelated stream
  for (auto& ex : generate(2 * test_count + 10, for_test))
    if (static_cast<int64_t>(test.size()) < test_count && !in_train.count(ex.tokens))
      test.push_back(std::move(ex));
  if (static_cast<int64_t>(test.size()) < test_count)
    throw std::runtime_error("listops: too few test trees of lengths " + std::to_string(o.min_length) +
                             ".." + std::to_string(o.max_length) + " outside the training set");
  return {std::move(train), std::move(test)};
}

int32_t evaluate(const std::vector<int32_t>& tokens) {
  // Stack entries: operators (negative: -op) and values (0..9).
  std::vector<int32_t> stack;
  for (int32_t t : tokens) {
    if (t >= kDigit0 && t < kDigit0 + 10) {
      stack.push_back(t - kDigit0);
    } else if (t >= kMin && t <= kSm) {
      stack.push_back(-t);
    } else if (t == kClose) {
      std::vector<int32_t> args;
      while (!stack.empty() && stack.back() >= 0) args.push_back(stack.back()), stack.pop_back();
      if (stack.empty() || args.empty()) throw std::invalid_argument("listops: unbalanced ']'");
      const int32_t op = -stack.back();
      stack.pop_back();
      stack.push_back(apply(op, args));
    } else {
      throw std::invalid_argument("listops: unknown token id " + std::to_string(t));
    }
  }
  if (stack.size() != 1 || stack[0] < 0) throw std::invalid_argument("listops: incomplete expression");
  return stack[0];
}

std::vector<Example> read_tsv(const std::string& path) {
  return parse_tsv(read_regular_file(path, "a ListOps TSV file", uint64_t{2} << 30), path);
}

std::vector<Example> parse_tsv(std::string content, const std::string& path) {
  if (content.compare(0, 3, "\xEF\xBB\xBF") == 0) content.erase(0, 3);  // a byte-order mark
  std::istringstream in(content);
  std::string line;
  auto strip_cr = [](std::string& s) {
    if (!s.empty() && s.back() == '\r') s.pop_back();
  };
  if (!std::getline(in, line)) throw std::runtime_error(path + ": the file is empty");
  strip_cr(line);
  if (line != "Source\tTarget")
    throw std::runtime_error(path + ":1: expected the header 'Source<TAB>Target'");
  std::vector<Example> out;
  for (int64_t number = 2; std::getline(in, line); ++number) {
    strip_cr(line);
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    const auto tab = line.find('\t');
    if (tab == std::string::npos || line.find('\t', tab + 1) != std::string::npos)
      throw std::runtime_error(where + "expected two tab-separated columns");
    const std::string label_text = line.substr(tab + 1);
    if (label_text.size() != 1 || label_text[0] < '0' || label_text[0] > '9')
      throw std::runtime_error(where + "label '" + label_text + "' is not a digit 0-9");
    Example ex{{}, label_text[0] - '0'};
    std::string source = line.substr(0, tab);
    std::replace(source.begin(), source.end(), '(', ' ');
    std::replace(source.begin(), source.end(), ')', ' ');
    std::istringstream words(source);
    std::string word;
    while (words >> word) {
      const int32_t t = token_of(word);
      if (t < 0) throw std::runtime_error(where + "unknown token '" + word + "'");
      ex.tokens.push_back(t);
    }
    if (ex.tokens.empty()) throw std::runtime_error(where + "empty expression");
    out.push_back(std::move(ex));
  }
  return out;
}

std::string token_name(int32_t token) {
  static const char* names[] = {"<pad>", "0", "1", "2", "3", "4", "5", "6", "7",
                                "8",     "9", "[MIN", "[MAX", "[MED", "[SM", "]"};
  return token >= 0 && token < kVocabSize ? names[token] : "?";
}

std::string to_text(const std::vector<int32_t>& tokens) {
  std::string s;
  for (int32_t t : tokens) {
    if (!s.empty()) s += ' ';
    s += token_name(t);
  }
  return s;
}

double outer_operator_baseline(const std::vector<Example>& train, const std::vector<Example>& test) {
  if (test.empty()) return 0;
  std::map<int32_t, std::vector<int64_t>> label_counts;  // first token -> count per label
  std::vector<int64_t> overall(10, 0);
  for (const auto& ex : train) {
    auto& counts = label_counts[ex.tokens.at(0)];
    counts.resize(10, 0);
    counts[ex.label]++, overall[ex.label]++;
  }
  auto most_frequent = [](const std::vector<int64_t>& counts) {
    return static_cast<int32_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
  };
  const int32_t fallback = most_frequent(overall);  // a first token never seen in training
  int64_t correct = 0;
  for (const auto& ex : test) {
    const auto it = label_counts.find(ex.tokens.at(0));
    correct += ex.label == (it == label_counts.end() ? fallback : most_frequent(it->second));
  }
  return static_cast<double>(correct) / test.size();
}

}  // namespace attn::listops
