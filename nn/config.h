// Model configuration, stored as JSON in every run folder and checkpoint.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace attn {

// Ceilings of a model's sizes, for typed options and configs read from files alike.
constexpr int64_t kMaxVocab = int64_t{1} << 24, kMaxContext = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 256, kMaxHeads = 256, kMaxWidth = 16384;

struct ModelConfig {
  int64_t vocab_size = 256;
  int64_t context = 64;     // maximum sequence length L (positions, Synthesizer, Linformer)
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t n_embd = 128;
  float dropout = 0.0f;
  bool tied = true;         // output head shares the token embedding
  bool causal = true;       // language model (causal) or encoder (bidirectional)
  std::string attention = "softmax";  // variant spec, e.g. "linformer:k=64"

  int64_t head_dim() const { return n_embd / n_head; }
  void validate() const;  // throws std::invalid_argument naming the bad field
};

void to_json(nlohmann::json& j, const ModelConfig& c);
void from_json(const nlohmann::json& j, ModelConfig& c);

}  // namespace attn
