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
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = n_head_, D = C / H;
  // [B, T, 3C] -> [B, T, 3H, D] -> [B, 3H, T, D] -> q, k, v [B, H, T, D]
  Tensor qkv = permute(reshape(c_attn.forward(x), {B, T, 3 * H, D}), {0, 2, 1, 3});
  auto parts = split(qkv, 1, {H, H, H});
  SoftmaxAttentionOptions options;
  options.causal = causal_;
  options.key_lengths = key_lengths;
  Tensor y = softmax_attention(parts[0], parts[1], parts[2], options);
  // [B, H, T, D] -> [B, T, H, D] -> [B, T, C]
  return c_proj.forward(reshape(permute(y, {0, 2, 1, 3}), {B, T, C}));
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
