#include "nn/attention_layer.h"

#include <stdexcept>

#include "attention/softmax_attention.h"
#include "attention/softmax_kv_cache.h"
#include "engine/tape.h"

namespace attn {

std::vector<std::string> attention_variant_names() { return {"softmax"}; }

void validate_attention_spec(const std::string& spec, bool /*causal*/) {
  for (const auto& name : attention_variant_names())
    if (spec == name) return;
  std::string known;
  for (const auto& name : attention_variant_names()) known += (known.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown attention variant '" + spec + "' (known: " + known + ")");
}

AttentionLayer::AttentionLayer(const ModelConfig& config, Rng& rng, float proj_std)
    : c_attn(config.n_embd, 3 * config.n_embd, rng),
      c_proj(config.n_embd, config.n_embd, rng, proj_std),
      n_head_(config.n_head),
      context_(config.context),
      causal_(config.causal) {
  validate_attention_spec(config.attention, config.causal);
  register_module("c_attn", c_attn);
  register_module("c_proj", c_proj);
}

Tensor AttentionLayer::forward(const Tensor& x, const std::vector<int32_t>& key_lengths) const {
  SoftmaxAttentionOptions options;
  options.causal = causal_;
  options.key_lengths = key_lengths;
  // Softmax reads q, k, v straight from the [B, T, 3C] projection and writes [B, T, C].
  return c_proj.forward(softmax_self_attention_packed(c_attn.forward(x), n_head_, options));
}

KVCache AttentionLayer::new_cache() const {
  const int64_t C = c_proj.weight.size(0), D = C / n_head_;
  return {Tensor::zeros({n_head_, context_, D}), Tensor::zeros({n_head_, context_, D}), 0};
}

Tensor AttentionLayer::step(const Tensor& x, KVCache& cache) const {
  const int64_t C = x.size(-1), H = n_head_, D = C / H;
  if (cache.length >= context_)
    throw std::out_of_range("AttentionLayer::step: the cache holds " + std::to_string(context_) +
                            " positions and is full");
  NoGradGuard no_grad;
  Tensor qkv = c_attn.forward(x);  // [1, 1, 3C]: q heads, then k heads, then v heads
  const float* p = qkv.data();
  for (int64_t h = 0; h < H; ++h)
    for (int64_t d = 0; d < D; ++d) {
      cache.k.data()[(h * context_ + cache.length) * D + d] = p[C + h * D + d];
      cache.v.data()[(h * context_ + cache.length) * D + d] = p[2 * C + h * D + d];
    }
  cache.length++;
  Tensor y = Tensor::empty({1, 1, C});
  softmax_attention_step(y.data(), p, cache.k.data(), cache.v.data(), H, D, context_,
                         cache.length);
  return c_proj.forward(y);
}

}  // namespace attn
