#include "nn/attention_layer.h"

#include <stdexcept>

#include "engine/tape.h"

namespace attn {
namespace {

int64_t projection_width(const ModelConfig& c) {
  const AttentionSpec spec = parse_attention_spec(c.attention, c.causal, c.context);
  return (find_attention_variant(spec.name).queries_and_keys ? 3 : 1) * c.n_embd;
}

}  // namespace

AttentionLayer::AttentionLayer(const ModelConfig& config, Rng& rng, float proj_std,
                               const Tensor* layerwise_projection)
    : c_attn(config.n_embd, projection_width(config), rng),
      c_proj(config.n_embd, config.n_embd, rng, proj_std),
      spec_(parse_attention_spec(config.attention, config.causal, config.context)),
      n_head_(config.n_head),
      context_(config.context) {
  register_module("c_attn", c_attn);
  register_module("c_proj", c_proj);
  const VariantSetup setup{config.n_head, config.context, config.n_embd, config.causal, rng,
                           layerwise_projection};
  variant_ = find_attention_variant(spec_.name).make(spec_, setup);
  register_module("", *variant_);  // the variant's parameters sit on the layer: attn.synth_r
}

void AttentionLayer::check_length(int64_t T) const {
  if (T > context_)
    throw std::invalid_argument("attention: sequence length " + std::to_string(T) +
                                " exceeds the maximum length L = " + std::to_string(context_));
}

Tensor AttentionLayer::forward(const Tensor& x, const std::vector<int32_t>& key_lengths) const {
  check_length(x.size(1));
  return c_proj.forward(variant_->forward(x, c_attn.forward(x), key_lengths));
}

Tensor AttentionLayer::weights(const Tensor& x) const {
  NoGradGuard no_grad;
  check_length(x.size(1));
  return variant_->weights(x, c_attn.forward(x));
}

AttentionCache AttentionLayer::new_cache() const {
  return variant_->new_cache(c_proj.weight.size(0) / n_head_);
}

Tensor AttentionLayer::step(const Tensor& x, AttentionCache& cache) const {
  if (!supports_step())
    throw std::logic_error("attention '" + spec_.text + "' has no single-step form");
  if (cache.length >= context_)
    throw std::out_of_range("AttentionLayer::step: the cache holds " + std::to_string(context_) +
                            " positions and is full");
  NoGradGuard no_grad;
  Tensor y = variant_->step(x, c_attn.forward(x), cache);
  cache.length++;
  return c_proj.forward(y);
}

}  // namespace attn
