// Encoder classifier: a bidirectional (non-causal) transformer over token ids with padding
// masks, pooled to one vector per sequence (mean over the real tokens, or the first token as
// CLS) and a linear head to class logits. Padded positions never reach attention (key masks)
// or the pooled vector.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/transformer.h"

namespace attn {

class EncoderClassifier : public Module {
  Rng init_rng_;

 public:
  // config.causal is forced to false; pooling is "mean" or "cls".
  EncoderClassifier(ModelConfig config, int64_t num_classes, const std::string& pooling,
                    uint64_t seed);
  // ids [B, T] with lengths[b] real tokens each (the rest padding) -> logits [B, classes]
  Tensor forward(const Ids& ids, const std::vector<int32_t>& lengths);
  // The attention weights of every layer for one unpadded input ids [1, T] (evaluation mode):
  // one [1, H, T, T or k] tensor per layer (see AttentionLayer::weights).
  std::vector<Tensor> attention_weights(const Ids& ids);
  const ModelConfig& config() const { return config_; }
  ParameterArena& arena() { return *arena_; }
  Rng& dropout_rng() { return dropout_rng_; }

  Embedding wte, wpe;
  Tensor layerwise_projection;  // Linformer share=layerwise: E = F for every layer
  std::vector<std::unique_ptr<TransformerBlock>> blocks;
  LayerNorm ln_f;
  Linear head;

 private:
  ModelConfig config_;
  std::string pooling_;
  Rng dropout_rng_;
  std::unique_ptr<ParameterArena> arena_;
};

}  // namespace attn
