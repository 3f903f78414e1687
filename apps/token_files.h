// Prepared corpora: token ids in files far larger than memory, as nanoGPT's prepare.py writes
// them (train.bin, val.bin: raw little-endian uint16, or uint32 for vocabularies past 65,536),
// memory-mapped, so that a training process touches only the windows it draws and its memory
// does not grow with the corpus. `attn prepare` (apps/prepare.h) adds dataset.json: the
// vocabulary size, the dtype, the tokenizer, token and byte counts per split, the sources.
// A folder with only train.bin and val.bin (nanoGPT's) needs --vocab-size and has no tokenizer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "apps/lm_tasks.h"

namespace attn {

// One memory-mapped token file.
class TokenFile {
 public:
  // Maps `path` of `width`-byte ids (2 or 4); throws naming the file when it is missing, not a
  // regular file, empty, or its size is not a multiple of the width.
  TokenFile(const std::string& path, int width, int64_t vocab_size);
  ~TokenFile();
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  int64_t size() const { return count_; }
  // Tokens [start, start + n) as int32; an id >= the vocabulary throws naming the file and
  // the token's offset.
  void read(int64_t start, int64_t n, int32_t* out) const;

 private:
  std::string path_;
  int width_;
  int64_t vocab_, count_ = 0;
  const uint8_t* data_ = nullptr;
  size_t mapped_ = 0;
};

// What a dataset folder holds.
struct DatasetInfo {
  std::string dir;
  int64_t vocab_size = 0;
  int width = 2;                  // bytes per token id
  nlohmann::json tokenizer;       // null: none (a nanoGPT folder)
  double train_bytes = 0, val_bytes = 0, train_tokens = 0, val_tokens = 0;  // 0: unknown
  nlohmann::json description;     // dataset.json as read (or made for a nanoGPT folder)
};

// The description in dataset.json's text (`source` names it in errors; also the fuzzer's
// entry): vocab_size and dtype consistent, the tokenizer kept as JSON for the caller.
DatasetInfo dataset_info_from_json(const std::string& text, const std::string& source, int64_t vocab_size);

// Reads dir/dataset.json, or treats a folder of train.bin + val.bin as nanoGPT's uint16 with
// `vocab_size` (0: refuse, asking for --vocab-size). Throws naming the file and the problem.
DatasetInfo read_dataset_info(const std::string& dir, int64_t vocab_size);

class TokenFileTask : public LMTask {
 public:
  TokenFileTask(const std::string& dir, int64_t vocab_size, int64_t context);
  Batch batch(bool validation, int64_t B, int64_t T, Rng& rng) const override;
  int64_t vocab_size() const override { return info_.vocab_size; }
  nlohmann::json describe() const override;
  const Tokenizer* tokenizer() const override { return tokenizer_.get(); }
  double val_bytes_per_token() const override;

 private:
  DatasetInfo info_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<TokenFile> train_, val_;
};

}  // namespace attn
