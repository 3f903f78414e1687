// What a language model trains on: text files (next-token prediction on random windows, as
// nanoGPT) or built-in synthetic tasks that need no data at all.
//   copy: random strings of `symbols` symbols (length in [min_len, max_len]), a separator,
//         then the same string again; only the copy is scored (Katharopoulos et al. 2020,
//         section 4.1). Accuracy = share of copied symbols predicted exactly.
//   recall: associative recall. n key-value pairs (distinct keys), a separator, then every key
//         again in a new order, each followed by its value; only those values are scored
//         (the model must look the key up in the first half). Accuracy = share of values
//         recalled exactly.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "apps/tokenizer.h"
#include "engine/ops.h"
#include "engine/rng.h"

namespace attn {

struct Batch {
  Ids inputs, targets;  // [B, T]; target -1 is not scored
};
// Rows [first, first + count) of a batch: a data-parallel rank's slice of the global batch.
Batch batch_rows(const Batch& b, int64_t first, int64_t count);

class LMTask {
 public:
  virtual ~LMTask() = default;
  virtual Batch batch(bool validation, int64_t B, int64_t T, Rng& rng) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual bool reports_accuracy() const { return false; }
  virtual nlohmann::json describe() const = 0;  // stored in checkpoints
  // Text tasks can turn a prompt into ids and ids back into text.
  virtual const Tokenizer* tokenizer() const { return nullptr; }
  // Bytes of text per token in the validation split, for bits per byte (val_bpb = loss /
  // ln 2 / bytes_per_token: comparable across tokenizers); 0 where there is no text.
  virtual double val_bytes_per_token() const { return 0; }
};

class TextTask : public LMTask {
 public:
  // Reads `path` (and `val_path`, or else the last `val_fraction` of the file) with the given
  // tokenizer kind ("char" or "byte"); checks the text is long enough for the context.
  TextTask(const std::string& path, const std::string& val_path, const std::string& kind,
           double val_fraction, int64_t context);
  // A task with a fixed tokenizer (resuming, evaluating a checkpoint).
  TextTask(const std::string& path, const std::string& val_path, const Tokenizer& tokenizer,
           double val_fraction, int64_t context);
  Batch batch(bool validation, int64_t B, int64_t T, Rng& rng) const override;
  int64_t vocab_size() const override { return tokenizer_.vocab_size(); }
  nlohmann::json describe() const override;
  const Tokenizer* tokenizer() const override { return &tokenizer_; }
  const std::vector<int32_t>& tokens(bool validation) const { return validation ? val_ : train_; }
  double val_bytes_per_token() const override { return val_bytes_per_token_; }

 private:
  void load(const std::string& path, const std::string& val_path, double val_fraction,
            int64_t context, const std::string& text);
  std::string path_;
  Tokenizer tokenizer_;
  std::vector<int32_t> train_, val_;
  double val_bytes_per_token_ = 0;
};

class CopyTask : public LMTask {
 public:
  CopyTask(int64_t symbols, int64_t min_len, int64_t max_len);
  Batch batch(bool validation, int64_t B, int64_t T, Rng& rng) const override;
  int64_t vocab_size() const override { return symbols_ + 2; }  // symbols, separator, pad
  bool reports_accuracy() const override { return true; }
  nlohmann::json describe() const override;
  int64_t context_needed() const { return 2 * max_len_ + 1; }

 private:
  int64_t symbols_, min_len_, max_len_;
};

class RecallTask : public LMTask {
 public:
  RecallTask(int64_t keys, int64_t values, int64_t min_pairs, int64_t max_pairs);
  Batch batch(bool validation, int64_t B, int64_t T, Rng& rng) const override;
  int64_t vocab_size() const override { return keys_ + values_ + 2; }  // keys, values, sep, pad
  bool reports_accuracy() const override { return true; }
  nlohmann::json describe() const override;
  int64_t context_needed() const { return 4 * max_pairs_ + 1; }

 private:
  int64_t keys_, values_, min_pairs_, max_pairs_;
};

// A text file read whole: a regular file of at most kMaxTextBytes, not empty (throws naming
// the file; a folder, /dev/zero or a FIFO is refused, never read until memory runs out).
constexpr uint64_t kMaxTextBytes = uint64_t{2} << 30;  // 2 GiB
std::string read_text_file(const std::string& path);

}  // namespace attn
