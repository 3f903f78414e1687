// Pre-LN transformer block and the GPT-style causal language model.
//   block:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
//   model:  h = dropout(wte[ids] + wpe[0:T]); blocks; ln_f; logits = h wte^T (tied) or lm_head
#pragma once
#include <memory>
#include <vector>

#include "nn/attention_layer.h"
#include "nn/config.h"
#include "nn/layers.h"

namespace attn {

class TransformerBlock : public Module {
 public:
  TransformerBlock(const ModelConfig& config, Rng& rng,
                   const Tensor* layerwise_projection = nullptr);
  // Dropout on both residual branches when `dropout_rng` is given (training).
  Tensor forward(const Tensor& x, Rng* dropout_rng = nullptr,
                 const std::vector<int32_t>& key_lengths = {}) const;
  Tensor step(const Tensor& x, AttentionCache& cache) const;  // one token, generation

  LayerNorm ln_1;
  AttentionLayer attn;
  LayerNorm ln_2;
  MLP mlp;

 private:
  float dropout_;
};

// The attention weights of each block for the embedded input x [B, T, C], in evaluation mode
// (no dropout, no gradient): one [B, H, T, T or k] tensor per block, as AttentionLayer::weights.
std::vector<Tensor> blocks_attention_weights(
    const std::vector<std::unique_ptr<TransformerBlock>>& blocks, Tensor x);

class LanguageModel : public Module {
  Rng init_rng_;  // first member: initialises the parameters below in a fixed order

 public:
  LanguageModel(const ModelConfig& config, uint64_t seed);
  // ids [B, T] -> logits [B, T, V]
  Tensor forward(const Ids& ids);
  // The attention weights of every layer for ids [B, T] (see AttentionLayer::weights), in
  // evaluation mode: one [B, H, T, T or k] tensor per layer.
  std::vector<Tensor> attention_weights(const Ids& ids);
  // Mean cross-entropy of the next-token targets (ignore index -1).
  Tensor loss(const Ids& ids, const Ids& targets);
  // Generation: logits [V] of the next token after feeding `token` at position caches' length
  // (softmax and the Synthesizers: cached keys and values; linear: the RNN state). Every
  // causal variant has this form; supports_step() is false only for encoders.
  bool supports_step() const { return blocks.front()->attn.supports_step(); }
  std::vector<float> step(int32_t token, std::vector<AttentionCache>& caches) const;
  std::vector<AttentionCache> new_caches() const;

  const ModelConfig& config() const { return config_; }
  ParameterArena& arena() { return *arena_; }
  Rng& dropout_rng() { return dropout_rng_; }

  Embedding wte, wpe;
  std::vector<std::unique_ptr<TransformerBlock>> blocks;
  LayerNorm ln_f;
  std::unique_ptr<Linear> lm_head;  // only when not tied

 private:
  ModelConfig config_;
  Rng dropout_rng_;
  std::unique_ptr<ParameterArena> arena_;
};

}  // namespace attn
