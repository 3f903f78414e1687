#include "apps/tokenizer.h"

#include "nn/json_input.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <stdexcept>

namespace attn {

std::vector<char32_t> decode_utf8(const std::string& text, const std::string& source, uint64_t base) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    char32_t c = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      ok = (s[i + k] & 0xC0) == 0x80;
      c = (c << 6) | (s[i + k] & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    static const char32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && c >= min_for_len[len] && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    if (!ok)
      throw std::runtime_error(source + ": invalid UTF-8 at byte offset " + std::to_string(base + i) +
                               " (use --tokenizer byte for non-UTF-8 data)");
    out.push_back(c);
    i += len;
  }
  return out;
}

std::string encode_utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

Tokenizer Tokenizer::bytes() { return Tokenizer(); }

Tokenizer Tokenizer::chars_of(const std::string& text, const std::string& source) {
  const auto points = decode_utf8(text, source);
  std::set<char32_t> unique(points.begin(), points.end());
  Tokenizer t;
  t.byte_level_ = false;
  t.chars_.assign(unique.begin(), unique.end());
  return t;
}

Tokenizer Tokenizer::subword(const SubwordModel& model) {
  Tokenizer t;
  t.byte_level_ = false;
  t.subword_ = std::make_shared<const SubwordModel>(model);
  return t;
}

nlohmann::json Tokenizer::to_json() const {
  if (subword_) return {{"kind", "subword"}, {"sentencepiece_model", base64_encode(subword_->serialized())}};
  if (byte_level_) return {{"kind", "byte"}};
  std::vector<uint32_t> points(chars_.begin(), chars_.end());
  return {{"kind", "char"}, {"code_points", points}};
}

Tokenizer Tokenizer::from_json(const nlohmann::json& j) {
  Tokenizer t;
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string())
    throw std::runtime_error("the tokenizer has no kind");
  const std::string kind = j["kind"].get<std::string>();
  if (kind == "byte") return t;
  if (kind == "subword") {
    if (!j.contains("sentencepiece_model") || !j["sentencepiece_model"].is_string())
      throw std::runtime_error("the subword tokenizer has no sentencepiece_model");
    return subword(SubwordModel::load(base64_decode(j["sentencepiece_model"].get<std::string>())));
  }
  if (kind != "char") throw std::runtime_error("unknown tokenizer kind " + json_excerpt(j["kind"]));
  t.byte_level_ = false;
  const auto& points = j.contains("code_points") ? j["code_points"] : nlohmann::json();
  if (!points.is_array() || points.empty() || points.size() > 0x110000)
    throw std::runtime_error("the tokenizer's code_points are not a list of 1..1114112 characters");
  for (const auto& p : points) {  // Unicode scalar values, strictly increasing
    const int64_t c = p.is_number_integer() ? p.get<int64_t>() : -1;
    const bool scalar = c >= 0 && c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF);
    if (!scalar || (!t.chars_.empty() && c <= static_cast<int64_t>(t.chars_.back())))
      throw std::runtime_error("the tokenizer's code point " + json_excerpt(p) + " at index " +
                               std::to_string(t.chars_.size()) + " is not a Unicode scalar value "
                               "above the one before it");
    t.chars_.push_back(static_cast<char32_t>(c));
  }
  return t;
}

Tokenizer Tokenizer::of_checkpoint(const Checkpoint& ckpt) {
  const nlohmann::json& task = ckpt.extra.contains("task") ? ckpt.extra["task"] : nlohmann::json();
  if (!task.is_object() || !task.contains("tokenizer") || !task["tokenizer"].is_object())
    throw std::runtime_error(ckpt.path + ": the model was trained on a synthetic task, not text");
  Tokenizer t;
  try {
    t = from_json(task["tokenizer"]);
  } catch (const std::exception& e) {
    throw std::runtime_error(ckpt.path + ": " + e.what());
  }
  if (t.vocab_size() != ckpt.config.vocab_size)  // a shorter one would drop sampled tokens
    throw std::runtime_error(ckpt.path + ": the tokenizer has " + std::to_string(t.vocab_size()) +
                             " symbols but the model's vocab_size is " +
                             std::to_string(ckpt.config.vocab_size));
  return t;
}

int64_t Tokenizer::vocab_size() const {
  if (subword_) return subword_->vocab_size();
  return byte_level_ ? 256 : static_cast<int64_t>(chars_.size());
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, const std::string& source) const {
  if (subword_) return subword_->encode(text);
  std::vector<int32_t> ids;
  if (byte_level_) {
    for (unsigned char b : text) ids.push_back(b);
    return ids;
  }
  const auto points = decode_utf8(text, source);
  ids.reserve(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    auto it = std::lower_bound(chars_.begin(), chars_.end(), points[i]);
    if (it == chars_.end() || *it != points[i]) {
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(points[i]));
      throw std::runtime_error(source + ": character " + code + " at position " +
                               std::to_string(i) + " is not in the model's vocabulary");
    }
    ids.push_back(static_cast<int32_t>(it - chars_.begin()));
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  if (subword_) {  // ids past the vocabulary are dropped, as for the other kinds
    std::vector<int32_t> known;
    for (int32_t id : ids)
      if (id >= 0 && id < subword_->vocab_size()) known.push_back(id);
    return subword_->decode(known);
  }
  std::string out;
  for (int32_t id : ids) {
    if (byte_level_) out += static_cast<char>(id);
    else if (id >= 0 && id < static_cast<int32_t>(chars_.size())) out += encode_utf8(chars_[id]);
  }
  return out;
}

}  // namespace attn
