#include "apps/classify_data.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "apps/csv.h"
#include "apps/listops.h"

namespace attn {
namespace {

Dataset from_listops(const std::vector<listops::Example>& examples) {
  Dataset d;
  for (const auto& ex : examples) d.tokens.push_back(ex.tokens), d.labels.push_back(ex.label);
  return d;
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::string w;
  for (unsigned char c : text) {
    if (std::isalnum(c)) w += static_cast<char>(std::tolower(c));
    else if (!w.empty()) words.push_back(w), w.clear();
  }
  if (!w.empty()) words.push_back(w);
  return words;
}

}  // namespace

ClassificationData load_classification_data(const ClassifyOptions& o) {
  ClassificationData t;
  if (o.task == "listops") {
    std::vector<listops::Example> train, test;
    if (!o.train_file.empty()) {
      if (o.test_file.empty()) throw std::invalid_argument("--train for listops needs --test too");
      train = listops::read_tsv(o.train_file), test = listops::read_tsv(o.test_file);
    } else {
      listops::GeneratorOptions g;
      g.min_length = o.listops_min_len, g.max_length = o.listops_max_len, g.seed = o.seed;
      const int64_t train_min = o.listops_train_min_len < 0 ? o.listops_min_len : o.listops_train_min_len;
      std::tie(train, test) = listops::generate_split(o.listops_train, o.listops_test, g, train_min);
    }
    t.train = from_listops(train), t.test = from_listops(test);
    t.outer_operator_baseline = listops::outer_operator_baseline(train, test);
    t.vocab = listops::kVocabSize, t.classes = 10;
    for (int32_t id = 0; id < listops::kVocabSize; ++id) t.token_names.push_back(listops::token_name(id));
    return t;
  }
  if (o.task != "csv") throw std::invalid_argument("--task must be listops or csv, got '" + o.task + "'");
  if (o.train_file.empty() || o.test_file.empty())
    throw std::invalid_argument("--task csv needs --train FILE and --test FILE");
  const auto train = read_labeled_csv(o.train_file), test = read_labeled_csv(o.test_file);
  for (const auto& r : train) t.classes = std::max<int64_t>(t.classes, r.label + 1);
  for (const auto& r : test)
    if (r.label >= t.classes)
      throw std::runtime_error(o.test_file + ": label " + std::to_string(r.label) +
                               " never occurs in the training file");
  if (o.tokenizer == "byte") {
    auto encode = [](const std::vector<LabeledText>& rows, Dataset& d) {
      for (const auto& r : rows) {
        std::vector<int32_t> ids;
        for (unsigned char c : r.text) ids.push_back(1 + c);
        if (ids.empty()) ids.push_back(1);
        d.tokens.push_back(ids), d.labels.push_back(r.label);
      }
    };
    encode(train, t.train), encode(test, t.test);
    t.vocab = 257;
    t.token_names.push_back("<pad>");
    for (int c = 0; c < 256; ++c) t.token_names.push_back(std::string(1, static_cast<char>(c)));
  } else if (o.tokenizer == "word") {
    std::unordered_map<std::string, int64_t> counts;
    for (const auto& r : train)
      for (const auto& w : words_of(r.text)) counts[w]++;
    std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (static_cast<int64_t>(sorted.size()) > o.vocab_words) sorted.resize(o.vocab_words);
    std::unordered_map<std::string, int32_t> id;  // 0 padding, 1 unknown word
    for (size_t i = 0; i < sorted.size(); ++i) id[sorted[i].first] = static_cast<int32_t>(i + 2);
    auto encode = [&](const std::vector<LabeledText>& rows, Dataset& d) {
      for (const auto& r : rows) {
        std::vector<int32_t> ids;
        for (const auto& w : words_of(r.text)) {
          auto it = id.find(w);
          ids.push_back(it == id.end() ? 1 : it->second);
        }
        if (ids.empty()) ids.push_back(1);
        d.tokens.push_back(ids), d.labels.push_back(r.label);
      }
    };
    encode(train, t.train), encode(test, t.test);
    t.vocab = static_cast<int64_t>(sorted.size()) + 2;
    t.token_names = {"<pad>", "<unk>"};
    for (const auto& [word, count] : sorted) t.token_names.push_back(word);
  } else {
    throw std::invalid_argument("--tokenizer must be byte or word for csv, got '" + o.tokenizer + "'");
  }
  return t;
}

std::vector<int32_t> encode_classify_text(const ClassificationData& data, const ClassifyOptions& o,
                                          const std::string& text) {
  std::vector<int32_t> ids;
  if (o.task == "csv" && o.tokenizer == "byte") {
    for (unsigned char c : text) ids.push_back(1 + c);
  } else if (o.task == "csv") {
    std::unordered_map<std::string, int32_t> id;
    for (size_t i = 2; i < data.token_names.size(); ++i) id[data.token_names[i]] = static_cast<int32_t>(i);
    for (const auto& w : words_of(text)) ids.push_back(id.count(w) ? id[w] : 1);
  } else {
    std::string spaced = text;  // LRA's inputs carry parentheses; its pipeline drops them
    for (char& c : spaced)
      if (c == '(' || c == ')' || c == '\t' || c == '\n') c = ' ';
    size_t start = 0;
    while ((start = spaced.find_first_not_of(' ', start)) != std::string::npos) {
      const size_t end = std::min(spaced.find(' ', start), spaced.size());
      const std::string token = spaced.substr(start, end - start);
      const auto it = std::find(data.token_names.begin() + 1, data.token_names.end(), token);
      if (it == data.token_names.end())
        throw std::invalid_argument("--text: '" + token + "' is not a ListOps token (0-9, [MIN, "
                                    "[MAX, [MED, [SM, ])");
      ids.push_back(static_cast<int32_t>(it - data.token_names.begin()));
      start = end;
    }
  }
  if (ids.empty()) throw std::invalid_argument("--text holds no tokens");
  return ids;
}

void pack(const Dataset& d, const std::vector<int64_t>& index, int64_t max_T, int32_t cls_token,
          Ids& ids, std::vector<int32_t>& lengths, Ids& labels) {
  const int64_t B = static_cast<int64_t>(index.size());
  int64_t T = 1;
  for (int64_t i : index)
    T = std::max<int64_t>(T, static_cast<int64_t>(d.tokens[i].size()) + (cls_token >= 0 ? 1 : 0));
  T = std::min(T, max_T);
  ids = {{B, T}, std::vector<int32_t>(B * T, 0)};
  labels = {{B}, std::vector<int32_t>(B)};
  lengths.assign(B, 0);
  for (int64_t b = 0; b < B; ++b) {
    const auto& src = d.tokens[index[b]];
    int64_t t = 0;
    if (cls_token >= 0) ids.values[b * T + t++] = cls_token;
    for (size_t i = 0; i < src.size() && t < T; ++i) ids.values[b * T + t++] = src[i];
    lengths[b] = static_cast<int32_t>(t);
    labels.values[b] = d.labels[index[b]];
  }
}

std::vector<int64_t> draw_batch(const std::vector<int64_t>& by_length, int64_t pool, int64_t B,
                                bool bucket, Rng& rng) {
  const int64_t N = pool;
  std::vector<int64_t> index(B);
  if (!bucket || N < B) {
    for (auto& i : index) i = by_length[rng.below(N)];
    return index;
  }
  const auto start = static_cast<int64_t>(rng.below(N - B + 1));
  for (int64_t b = 0; b < B; ++b) index[b] = by_length[start + b];
  return index;
}

}  // namespace attn
