#include "nn/transformer.h"

#include <cmath>
#include <stdexcept>

#include "engine/tape.h"

namespace attn {
namespace {

// GPT-2 scales the init of each residual projection by 1/sqrt(2 n_layer): two per block.
float residual_std(const ModelConfig& c) { return 0.02f / std::sqrt(2.0f * c.n_layer); }

}  // namespace

TransformerBlock::TransformerBlock(const ModelConfig& config, Rng& rng,
                                   const Tensor* layerwise_projection)
    : ln_1(config.n_embd),
      attn(config, rng, residual_std(config), layerwise_projection),
      ln_2(config.n_embd),
      mlp(config.n_embd, rng, residual_std(config)),
      dropout_(config.dropout) {
  register_module("ln_1", ln_1);
  register_module("attn", attn);
  register_module("ln_2", ln_2);
  register_module("mlp", mlp);
}

Tensor TransformerBlock::forward(const Tensor& x, Rng* dropout_rng,
                                 const std::vector<int32_t>& key_lengths) const {
  auto drop = [&](const Tensor& t) {
    return dropout_rng && dropout_ > 0.0f ? dropout(t, dropout_, dropout_rng->next_u64()) : t;
  };
  Tensor h = add(x, drop(attn.forward(ln_1.forward(x), key_lengths)));
  return add(h, drop(mlp.forward(ln_2.forward(h))));
}

Tensor TransformerBlock::step(const Tensor& x, AttentionCache& cache) const {
  Tensor h = add(x, attn.step(ln_1.forward(x), cache));
  return add(h, mlp.forward(ln_2.forward(h)));
}

LanguageModel::LanguageModel(const ModelConfig& config, uint64_t seed)
    : init_rng_((config.validate(), seed)),
      wte(config.vocab_size, config.n_embd, init_rng_),
      wpe(config.context, config.n_embd, init_rng_),
      ln_f(config.n_embd),
      config_(config),
      dropout_rng_(seed + 1) {
  Rng& rng = init_rng_;
  register_module("wte", wte);
  register_module("wpe", wpe);
  for (int64_t l = 0; l < config.n_layer; ++l) {
    blocks.push_back(std::make_unique<TransformerBlock>(config, rng));
    register_module("blocks." + std::to_string(l), *blocks.back());
  }
  register_module("ln_f", ln_f);
  if (!config.tied) {
    lm_head = std::make_unique<Linear>(config.n_embd, config.vocab_size, rng, 0.02f, false);
    register_module("lm_head", *lm_head);
  }
  arena_ = std::make_unique<ParameterArena>(parameters());
}

std::vector<Tensor> LanguageModel::attention_weights(const Ids& ids) {
  NoGradGuard no_grad;
  const bool was_training = training();
  eval();
  if (ids.shape.size() != 2 || ids.shape[1] > config_.context)
    throw std::invalid_argument("attention_weights: ids must be [B, T] with T <= context " +
                                std::to_string(config_.context) + ", got " + to_string(ids.shape));
  const int64_t T = ids.shape[1];
  auto maps = blocks_attention_weights(blocks, add(wte.forward(ids), slice(wpe.weight, 0, 0, T)));
  train(was_training);
  return maps;
}

std::vector<Tensor> blocks_attention_weights(
    const std::vector<std::unique_ptr<TransformerBlock>>& blocks, Tensor x) {
  NoGradGuard no_grad;
  std::vector<Tensor> maps;
  for (auto& block : blocks) {
    maps.push_back(block->attn.weights(block->ln_1.forward(x)));
    x = block->forward(x, nullptr);
  }
  return maps;
}

Tensor LanguageModel::forward(const Ids& ids) {
  if (ids.shape.size() != 2)
    throw std::invalid_argument("LanguageModel::forward: ids must be [B, T], got " +
                                to_string(ids.shape));
  const int64_t T = ids.shape[1];
  if (T > config_.context)
    throw std::invalid_argument("LanguageModel::forward: sequence length " + std::to_string(T) +
                                " exceeds the model's context " +
                                std::to_string(config_.context));
  Rng* rng = training() && config_.dropout > 0.0f ? &dropout_rng_ : nullptr;
  Tensor x = add(wte.forward(ids), slice(wpe.weight, 0, 0, T));
  if (rng) x = dropout(x, config_.dropout, rng->next_u64());
  for (auto& block : blocks) x = block->forward(x, rng);
  x = ln_f.forward(x);
  return config_.tied ? matmul(x, wte.weight, false, true) : lm_head->forward(x);
}

Tensor LanguageModel::loss(const Ids& ids, const Ids& targets) {
  return cross_entropy(forward(ids), targets);
}

std::vector<AttentionCache> LanguageModel::new_caches() const {
  std::vector<AttentionCache> caches;
  for (const auto& block : blocks) caches.push_back(block->attn.new_cache());
  return caches;
}

std::vector<float> LanguageModel::step(int32_t token, std::vector<AttentionCache>& caches) const {
  NoGradGuard no_grad;
  const int64_t pos = caches.at(0).length;
  Tensor x = add(wte.forward(Ids{{1, 1}, {token}}), slice(wpe.weight, 0, pos, 1));
  for (size_t l = 0; l < blocks.size(); ++l) x = blocks[l]->step(x, caches[l]);
  x = ln_f.forward(x);
  Tensor logits = config_.tied ? matmul(x, wte.weight, false, true) : lm_head->forward(x);
  return logits.to_vector();
}

}  // namespace attn
