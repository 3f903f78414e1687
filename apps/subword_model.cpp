#include "apps/subword_model.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <sstream>
#include <string_view>
#include <stdexcept>

namespace attn {
namespace {

// The sample's lines, one sentence each, for the trainer (no temporary file).
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::string& text) : in_(text) { Next(); }
  bool done() const override { return done_; }
  void Next() override { done_ = !std::getline(in_, line_); }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::istringstream in_;
  std::string line_;
  bool done_ = false;
};

}  // namespace

SubwordModel SubwordModel::train(const std::string& sample, const std::string& kind,
                                 int64_t vocab_size, int threads) {
  if (kind != "bpe" && kind != "unigram")
    throw std::invalid_argument("subword model type must be bpe or unigram, got '" + kind + "'");
  std::ostringstream args;
  args << "--model_type=" << kind << " --vocab_size=" << vocab_size
       << " --byte_fallback=true --character_coverage=0.9995 --normalization_rule_name=identity"
       << " --add_dummy_prefix=false --remove_extra_whitespaces=false --split_digits=true"
       << " --max_sentence_length=65536 --hard_vocab_limit=false --num_threads=" << std::max(1, threads)
       << " --minloglevel=2";
  LineIterator lines(sample);
  std::string serialized;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args.str(), &lines, &serialized);
  if (!status.ok())
    throw std::runtime_error("SentencePiece could not train a " + kind + " vocabulary of " +
                             std::to_string(vocab_size) + ": " + status.ToString());
  return load(serialized);
}

SubwordModel SubwordModel::load(const std::string& serialized) {
  auto processor = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(serialized);
  if (!status.ok())
    throw std::runtime_error("not a SentencePiece model: " + status.ToString());
  SubwordModel m;
  m.serialized_ = serialized;
  m.processor_ = std::move(processor);
  return m;
}

int64_t SubwordModel::vocab_size() const { return processor_->GetPieceSize(); }

// Line by line: SentencePiece's encoder is built for sentences and its time and memory grow
// faster than linearly with the length of one input (a 4 MB block took minutes and hundreds
// of MB). No piece spans a line break (the vocabulary is trained on lines; "\n" itself is a
// byte-fallback token), so the ids are those of the whole text. A line longer than 64 KB is
// cut at a UTF-8 character boundary.
std::vector<int32_t> SubwordModel::encode(const std::string& text) const {
  constexpr size_t kMaxPiece = 1 << 16;
  std::vector<int32_t> out;
  std::vector<int> ids;
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.find('\n', start), text.size() - 1) + 1;  // through the newline
    if (end - start > kMaxPiece) {
      end = start + kMaxPiece;
      while (end > start + 1 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    }
    const auto status = processor_->Encode(std::string_view(text).substr(start, end - start), &ids);
    if (!status.ok()) throw std::runtime_error("SentencePiece could not encode: " + status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
    start = end;
  }
  return out;
}

std::string SubwordModel::decode(const std::vector<int32_t>& ids) const {
  const int64_t n = vocab_size();
  for (int32_t id : ids)
    if (id < 0 || id >= n)
      throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                                  std::to_string(n));
  std::string text;
  const auto status = processor_->Decode(std::vector<int>(ids.begin(), ids.end()), &text);
  if (!status.ok()) throw std::runtime_error("SentencePiece could not decode: " + status.ToString());
  return text;
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;  // 24 bits: 3 bytes, 4 letters
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[v >> 18 & 63], out += kAlphabet[v >> 12 & 63];
    out += i + 1 < bytes.size() ? kAlphabet[v >> 6 & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::string base64_decode(const std::string& text) {
  std::string out;
  uint32_t v = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const char* at = std::char_traits<char>::find(kAlphabet, 64, c);
    if (!at) throw std::invalid_argument("base64: a character outside the alphabet");
    v = v << 6 | static_cast<uint32_t>(at - kAlphabet), bits += 6;
    if (bits >= 8) bits -= 8, out += static_cast<char>(v >> bits & 0xff);
  }
  return out;
}

}  // namespace attn
