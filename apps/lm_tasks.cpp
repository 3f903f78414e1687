#include "apps/lm_tasks.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "engine/files.h"

namespace attn {

std::string read_text_file(const std::string& path) {
  std::string text = read_regular_file(path, "a text data file", kMaxTextBytes);
  if (text.empty()) throw std::runtime_error(path + ": the data file is empty");
  return text;
}

Batch batch_rows(const Batch& b, int64_t first, int64_t count) {
  const int64_t T = b.inputs.shape.at(1);
  if (first < 0 || count < 0 || first + count > b.inputs.shape[0])
    throw std::out_of_range("batch_rows: rows [" + std::to_string(first) + ", " +
                            std::to_string(first + count) + ") of a batch of " +
                            std::to_string(b.inputs.shape[0]));
  auto rows = [&](const Ids& ids) {
    return Ids{{count, T}, std::vector<int32_t>(ids.values.begin() + first * T,
                                                ids.values.begin() + (first + count) * T)};
  };
  return {rows(b.inputs), rows(b.targets)};
}

TextTask::TextTask(const std::string& path, const std::string& val_path, const std::string& kind,
                   double val_fraction, int64_t context)
    : path_(path) {
  if (kind != "char" && kind != "byte")
    throw std::invalid_argument("tokenizer must be 'char' or 'byte', got '" + kind + "'");
  const std::string text = read_text_file(path);
  tokenizer_ = kind == "byte" ? Tokenizer::bytes() : Tokenizer::chars_of(text, path);
  load(path, val_path, val_fraction, context, text);
}

TextTask::TextTask(const std::string& path, const std::string& val_path,
                   const Tokenizer& tokenizer, double val_fraction, int64_t context)
    : path_(path), tokenizer_(tokenizer) {
  load(path, val_path, val_fraction, context, read_text_file(path));
}

void TextTask::load(const std::string& path, const std::string& val_path, double val_fraction,
                    int64_t context, const std::string& text) {
  std::vector<int32_t> all = tokenizer_.encode(text, path);
  if (!val_path.empty()) {
    train_ = std::move(all);
    val_ = tokenizer_.encode(read_text_file(val_path), val_path);
  } else {
    if (!(val_fraction > 0.0 && val_fraction < 1.0))
      throw std::invalid_argument("validation fraction must be in (0, 1)");
    const auto split = static_cast<size_t>(all.size() * (1.0 - val_fraction));
    train_.assign(all.begin(), all.begin() + split);
    val_.assign(all.begin() + split, all.end());
  }
  auto need = [&](const std::vector<int32_t>& part, const std::string& which) {
    if (static_cast<int64_t>(part.size()) <= context)
      throw std::runtime_error(path + ": the " + which + " text has " +
                               std::to_string(part.size()) + " tokens, not more than the context " +
                               std::to_string(context) + " (use a longer file or a shorter --context)");
  };
  need(train_, "training");
  need(val_, "validation");
  val_bytes_per_token_ = static_cast<double>(tokenizer_.decode(val_).size()) / static_cast<double>(val_.size());
}

Batch TextTask::batch(bool validation, int64_t B, int64_t T, Rng& rng) const {
  const auto& data = validation ? val_ : train_;
  Batch b{{{B, T}, std::vector<int32_t>(B * T)}, {{B, T}, std::vector<int32_t>(B * T)}};
  for (int64_t i = 0; i < B; ++i) {
    const int64_t start = static_cast<int64_t>(rng.below(data.size() - T));
    for (int64_t t = 0; t < T; ++t) {
      b.inputs.values[i * T + t] = data[start + t];
      b.targets.values[i * T + t] = data[start + t + 1];
    }
  }
  return b;
}

nlohmann::json TextTask::describe() const {
  return {{"kind", "text"}, {"path", path_}, {"tokenizer", tokenizer_.to_json()},
          {"train_tokens", train_.size()}, {"val_tokens", val_.size()}};
}

CopyTask::CopyTask(int64_t symbols, int64_t min_len, int64_t max_len)
    : symbols_(symbols), min_len_(min_len), max_len_(max_len) {
  if (symbols < 2) throw std::invalid_argument("copy task: need at least 2 symbols");
  if (min_len < 1 || max_len < min_len)
    throw std::invalid_argument("copy task: need 1 <= min length <= max length");
}

Batch CopyTask::batch(bool, int64_t B, int64_t T, Rng& rng) const {
  if (T < context_needed())
    throw std::invalid_argument("copy task: context " + std::to_string(T) + " is shorter than " +
                                std::to_string(context_needed()) + " (2 max_len + 1)");
  const int32_t sep = static_cast<int32_t>(symbols_), pad = sep + 1;
  Batch b{{{B, T}, std::vector<int32_t>(B * T, pad)}, {{B, T}, std::vector<int32_t>(B * T, -1)}};
  std::vector<int32_t> seq(T + 1);
  for (int64_t i = 0; i < B; ++i) {
    const int64_t L = min_len_ + static_cast<int64_t>(rng.below(max_len_ - min_len_ + 1));
    std::fill(seq.begin(), seq.end(), pad);
    for (int64_t t = 0; t < L; ++t) seq[t] = seq[L + 1 + t] = static_cast<int32_t>(rng.below(symbols_));
    seq[L] = sep;
    for (int64_t t = 0; t < T; ++t) b.inputs.values[i * T + t] = seq[t];
    // Position p predicts seq[p + 1]; the copy occupies p + 1 in [L + 1, 2L].
    for (int64_t p = L; p < 2 * L; ++p) b.targets.values[i * T + p] = seq[p + 1];
  }
  return b;
}

nlohmann::json CopyTask::describe() const {
  return {{"kind", "copy"}, {"symbols", symbols_}, {"min_len", min_len_}, {"max_len", max_len_}};
}

RecallTask::RecallTask(int64_t keys, int64_t values, int64_t min_pairs, int64_t max_pairs)
    : keys_(keys), values_(values), min_pairs_(min_pairs), max_pairs_(max_pairs) {
  if (values < 2) throw std::invalid_argument("recall task: need at least 2 values");
  if (min_pairs < 1 || max_pairs < min_pairs)
    throw std::invalid_argument("recall task: need 1 <= min pairs <= max pairs");
  if (keys < max_pairs)
    throw std::invalid_argument("recall task: " + std::to_string(max_pairs) +
                                " pairs need at least as many distinct keys, got " +
                                std::to_string(keys));
}

Batch RecallTask::batch(bool, int64_t B, int64_t T, Rng& rng) const {
  if (T < context_needed())
    throw std::invalid_argument("recall task: context " + std::to_string(T) + " is shorter than " +
                                std::to_string(context_needed()) + " (4 max_pairs + 1)");
  const auto first_value = static_cast<int32_t>(keys_), sep = first_value + static_cast<int32_t>(values_),
             pad = sep + 1;
  Batch b{{{B, T}, std::vector<int32_t>(B * T, pad)}, {{B, T}, std::vector<int32_t>(B * T, -1)}};
  std::vector<int32_t> keys(keys_), value_of(keys_);
  for (int64_t i = 0; i < B; ++i) {
    const int64_t n = min_pairs_ + static_cast<int64_t>(rng.below(max_pairs_ - min_pairs_ + 1));
    // n distinct keys: the first n of a partial Fisher-Yates shuffle.
    for (int64_t k = 0; k < keys_; ++k) keys[k] = static_cast<int32_t>(k);
    for (int64_t k = 0; k < n; ++k) std::swap(keys[k], keys[k + rng.below(keys_ - k)]);
    int32_t* in = b.inputs.values.data() + i * T;
    int32_t* target = b.targets.values.data() + i * T;
    for (int64_t k = 0; k < n; ++k) {
      value_of[keys[k]] = first_value + static_cast<int32_t>(rng.below(values_));
      in[2 * k] = keys[k], in[2 * k + 1] = value_of[keys[k]];
    }
    in[2 * n] = sep;
    for (int64_t k = n - 1; k > 0; --k) std::swap(keys[k], keys[rng.below(k + 1)]);  // query order
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = 2 * n + 1 + 2 * k;  // the query key; the next position holds its value
      in[at] = keys[k], in[at + 1] = value_of[keys[k]];
      target[at] = value_of[keys[k]];
    }
  }
  return b;
}

nlohmann::json RecallTask::describe() const {
  return {{"kind", "recall"}, {"keys", keys_}, {"values", values_}, {"min_pairs", min_pairs_},
          {"max_pairs", max_pairs_}};
}

}  // namespace attn
