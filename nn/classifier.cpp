#include "nn/classifier.h"

#include <cmath>
#include <stdexcept>

#include "nn/attention_registry.h"

namespace attn {
namespace {

ModelConfig encoder(ModelConfig c) {
  c.causal = false;
  c.validate();
  return c;
}

}  // namespace

EncoderClassifier::EncoderClassifier(ModelConfig config, int64_t num_classes,
                                     const std::string& pooling, uint64_t seed)
    : init_rng_(seed),
      wte(encoder(config).vocab_size, config.n_embd, init_rng_),
      wpe(config.context, config.n_embd, init_rng_),
      ln_f(config.n_embd),
      head(config.n_embd, num_classes, init_rng_),
      config_(encoder(config)),
      pooling_(pooling),
      dropout_rng_(seed + 1) {
  if (pooling != "mean" && pooling != "cls")
    throw std::invalid_argument("pooling must be 'mean' or 'cls', got '" + pooling + "'");
  if (num_classes < 2) throw std::invalid_argument("a classifier needs at least 2 classes");
  register_module("wte", wte);
  register_module("wpe", wpe);
  const AttentionSpec spec = parse_attention_spec(config_.attention, false, config_.context);
  const auto shared_rows = find_attention_variant(spec.name).shared_projection_rows;
  if (const int64_t rows = shared_rows ? shared_rows(spec) : 0) {  // Linformer share=layerwise
    layerwise_projection = Tensor::randn({rows, config_.context}, init_rng_,
                                         1.0f / std::sqrt(static_cast<float>(config_.context)));
    register_parameter("linformer_e", layerwise_projection);
  }
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    blocks.push_back(std::make_unique<TransformerBlock>(
        config_, init_rng_, layerwise_projection.defined() ? &layerwise_projection : nullptr));
    register_module("blocks." + std::to_string(l), *blocks.back());
  }
  register_module("ln_f", ln_f);
  register_module("head", head);
  arena_ = std::make_unique<ParameterArena>(parameters());
}

std::vector<Tensor> EncoderClassifier::attention_weights(const Ids& ids) {
  if (ids.shape.size() != 2 || ids.shape[0] != 1 || ids.shape[1] > config_.context)
    throw std::invalid_argument("EncoderClassifier::attention_weights: ids must be [1, T] with T <= " +
                                std::to_string(config_.context) + ", got " + to_string(ids.shape));
  const bool was_training = training();
  eval();
  auto maps = blocks_attention_weights(blocks, add(wte.forward(ids), slice(wpe.weight, 0, 0, ids.shape[1])));
  train(was_training);
  return maps;
}

Tensor EncoderClassifier::forward(const Ids& ids, const std::vector<int32_t>& lengths) {
  if (ids.shape.size() != 2)
    throw std::invalid_argument("EncoderClassifier: ids must be [B, T], got " + to_string(ids.shape));
  const int64_t B = ids.shape[0], T = ids.shape[1], C = config_.n_embd;
  if (T > config_.context)
    throw std::invalid_argument("EncoderClassifier: length " + std::to_string(T) +
                                " exceeds the context " + std::to_string(config_.context));
  if (static_cast<int64_t>(lengths.size()) != B)
    throw std::invalid_argument("EncoderClassifier: " + std::to_string(lengths.size()) +
                                " lengths for a batch of " + std::to_string(B));
  for (int32_t len : lengths)
    if (len < 1 || len > T)
      throw std::invalid_argument("EncoderClassifier: a length of " + std::to_string(len) +
                                  " is outside [1, " + std::to_string(T) + "]");
  Rng* rng = training() && config_.dropout > 0.0f ? &dropout_rng_ : nullptr;
  Tensor x = add(wte.forward(ids), slice(wpe.weight, 0, 0, T));
  if (rng) x = dropout(x, config_.dropout, rng->next_u64());
  for (auto& block : blocks) x = block->forward(x, rng, lengths);
  x = ln_f.forward(x);
  // Pooling as a product with a constant [B, 1, T] weight row: 1/len on real tokens (mean)
  // or 1 on the first token (CLS), 0 on padding.
  Tensor weights = Tensor::zeros({B, 1, T});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < (pooling_ == "cls" ? 1 : lengths[b]); ++t)
      weights.data()[b * T + t] = pooling_ == "cls" ? 1.0f : 1.0f / static_cast<float>(lengths[b]);
  Tensor pooled = reshape(matmul(weights, x), {B, C});
  return head.forward(pooled);
}

}  // namespace attn
