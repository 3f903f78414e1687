// Subword vocabularies trained and applied by SentencePiece (Debian's libsentencepiece-dev):
// BPE or unigram, with byte fallback so that any input encodes (bytes outside the pieces
// become <0xNN> tokens) and decodes back to exactly the same bytes: identity normalisation,
// no dummy prefix, whitespace kept as it is.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace attn {

class SubwordModel {
 public:
  // Trains a `kind` ("bpe" or "unigram") vocabulary of `vocab_size` pieces on `sample` (text;
  // lines are its sentences) with `threads` threads. Throws with SentencePiece's message.
  static SubwordModel train(const std::string& sample, const std::string& kind, int64_t vocab_size,
                            int threads);
  // A model from its serialized form (SentencePiece's ModelProto); throws when it is not one.
  static SubwordModel load(const std::string& serialized);

  const std::string& serialized() const { return serialized_; }
  int64_t vocab_size() const;
  std::vector<int32_t> encode(const std::string& text) const;  // thread-safe
  std::string decode(const std::vector<int32_t>& ids) const;   // ids must be < vocab_size()

 private:
  std::string serialized_;
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor_;
};

// RFC 4648 base64 (the serialized model inside a checkpoint's JSON metadata).
std::string base64_encode(const std::string& bytes);
std::string base64_decode(const std::string& text);  // throws on a character outside the alphabet

}  // namespace attn
