// Tokenizers for language models.
//   char: the vocabulary is the sorted set of Unicode code points of the training text (UTF-8,
//         validated: invalid bytes are an error that names the byte offset; use byte level
//         for arbitrary binary data).
//   byte: the 256 byte values; accepts anything.
//   subword: a SentencePiece BPE or unigram vocabulary with byte fallback (apps/subword_model.h),
//         made by `attn prepare`; accepts anything and round-trips it exactly. Stored in
//         checkpoints as its serialized model (base64), so a checkpoint needs no other file.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/subword_model.h"
#include "nn/checkpoint.h"

namespace attn {

class Tokenizer {
 public:
  static Tokenizer bytes();
  // Builds a char vocabulary from `text`; `source` names the text in error messages.
  static Tokenizer chars_of(const std::string& text, const std::string& source);
  static Tokenizer subword(const SubwordModel& model);
  static Tokenizer from_json(const nlohmann::json& j);  // checked: throws saying what is wrong
  // The tokenizer of a text model's checkpoint, which must match its vocab_size; throws
  // naming the file (also for models of synthetic tasks, which have none).
  static Tokenizer of_checkpoint(const Checkpoint& ckpt);
  nlohmann::json to_json() const;

  int64_t vocab_size() const;
  // Throws for invalid UTF-8 or characters outside the vocabulary (char level).
  std::vector<int32_t> encode(const std::string& text, const std::string& source) const;
  std::string decode(const std::vector<int32_t>& ids) const;
  bool is_bytes() const { return byte_level_ && !subword_; }
  std::string kind() const { return subword_ ? "subword" : byte_level_ ? "byte" : "char"; }

 private:
  bool byte_level_ = true;
  std::vector<char32_t> chars_;  // sorted; id = index
  std::shared_ptr<const SubwordModel> subword_;
};

// Decodes UTF-8 into code points; throws naming `source` and the byte offset of bad input
// (counted from `base`: where `text` starts in its file).
std::vector<char32_t> decode_utf8(const std::string& text, const std::string& source, uint64_t base = 0);
std::string encode_utf8(char32_t c);

}  // namespace attn
