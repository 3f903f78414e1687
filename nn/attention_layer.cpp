#include "nn/attention_layer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "attention/mask.h"
#include "attention/linformer.h"
#include "attention/softmax_attention.h"
#include "attention/softmax_kv_cache.h"
#include "attention/synthetic_attention.h"
#include "engine/tape.h"

namespace attn {
namespace {

// [B, T, n C] -> n tensors [B, H, T, D]
std::vector<Tensor> split_heads(const Tensor& x, int64_t H, int n) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2) / (n * H);
  Tensor heads = permute(reshape(x, {B, T, n * H, D}), {0, 2, 1, 3});
  if (n == 1) return {heads};
  return split(heads, 1, std::vector<int64_t>(n, H));
}

Tensor merge_heads(const Tensor& y) {  // [B, H, T, D] -> [B, T, H D]
  return reshape(permute(y, {0, 2, 1, 3}), {y.size(0), y.size(2), y.size(1) * y.size(3)});
}

}  // namespace

AttentionLayer::AttentionLayer(const ModelConfig& config, Rng& rng, float proj_std,
                               const Tensor* layerwise_projection)
    : c_attn(config.n_embd,
             (parse_attention_spec(config.attention, config.causal, config.context)
                      .uses_dot_product() ? 3 : 1) * config.n_embd, rng),
      c_proj(config.n_embd, config.n_embd, rng, proj_std),
      spec_(parse_attention_spec(config.attention, config.causal, config.context)),
      n_head_(config.n_head),
      context_(config.context),
      causal_(config.causal),
      layerwise_projection_(layerwise_projection) {
  register_module("c_attn", c_attn);
  register_module("c_proj", c_proj);
  const int64_t H = n_head_, L = context_, C = config.n_embd;
  const std::string& name = spec_.name;
  if (name == "linformer") {
    const float std = 1.0f / std::sqrt(static_cast<float>(L));
    const Shape shape = spec_.share == "none" ? Shape{H, spec_.k, L} : Shape{spec_.k, L};
    if (spec_.share == "layerwise") {
      if (!layerwise_projection_)
        throw std::invalid_argument("linformer share=layerwise needs a model that owns the "
                                    "shared projection (the encoder classifier)");
    } else {
      proj_e = Tensor::randn(shape, rng, std);
      register_parameter("proj_e", proj_e);
      if (spec_.share != "kv") {
        proj_f = Tensor::randn(shape, rng, std);
        register_parameter("proj_f", proj_f);
      }
    }
  }
  if (name == "synth-random" || name == "synth-random+softmax") {
    synth_r = Tensor::randn({H, L, L}, rng, 0.02f);
    register_parameter("synth_r", synth_r, /*decay=*/false);
  }
  if (name == "synth-random-fixed") {  // fixed: a random (not uniform) attention pattern
    synth_r = Tensor::randn({H, L, L}, rng, 1.0f);
    register_parameter("synth_r", synth_r, /*decay=*/false, /*trainable=*/false);
  }
  if (name == "synth-fact-random") {
    synth_r = Tensor::randn({H, L, spec_.r}, rng, 0.1f);
    synth_r2 = Tensor::randn({H, L, spec_.r}, rng, 0.1f);
    register_parameter("synth_r1", synth_r, false);
    register_parameter("synth_r2", synth_r2, false);
  }
  if (name == "synth-dense" || name == "synth-dense+softmax") {
    dense_1 = std::make_unique<Linear>(C, C, rng);
    dense_2 = std::make_unique<Linear>(C, H * L, rng);
    register_module("dense_1", *dense_1);
    register_module("dense_2", *dense_2);
  }
  if (name == "synth-fact-dense") {
    const int64_t a = spec_.a, b = (L + a - 1) / a;
    dense_1 = std::make_unique<Linear>(C, H * a, rng, 0.2f);
    dense_b = std::make_unique<Linear>(C, H * b, rng, 0.2f);
    register_module("dense_a", *dense_1);
    register_module("dense_b", *dense_b);
    // Tiling A (length a) b times: column j takes A[j % a]; repeating B: column j takes B[j / a].
    tile_a_ = Tensor::zeros({a, L});
    repeat_b_ = Tensor::zeros({b, L});
    for (int64_t j = 0; j < L; ++j) {
      tile_a_.data()[(j % a) * L + j] = 1.0f;
      repeat_b_.data()[(j / a) * L + j] = 1.0f;
    }
  }
  if (name.find("+softmax") != std::string::npos) {
    mix_logit = Tensor::zeros({1});
    register_parameter("mix_logit", mix_logit, false);
  }
}

// The Synthesizer's logits for the first T positions: [B, H, T, T] (Dense) or [1, H, T, T].
Tensor AttentionLayer::synthesizer_logits(const Tensor& x, int64_t T) const {
  const int64_t B = x.size(0), H = n_head_, L = context_;
  const std::string& name = spec_.name;
  if (name == "synth-dense" || name == "synth-dense+softmax") {
    // Each token's row of logits: W2 relu(W1 x_i + b1) + b2, H rows of L, first T kept.
    Tensor rows = dense_2->forward(relu(dense_1->forward(x)));  // [B, T, H L]
    rows = slice(reshape(rows, {B, T, H, L}), 3, 0, T);
    return permute(rows, {0, 2, 1, 3});
  }
  if (name == "synth-fact-dense") {
    const int64_t a = spec_.a, b = tile_a_.size(0) == a ? repeat_b_.size(0) : 0;
    Tensor A = reshape(dense_1->forward(x), {B, T, H, a});
    Tensor Bv = reshape(dense_b->forward(x), {B, T, H, b});
    Tensor rows = mul(matmul(A, tile_a_), matmul(Bv, repeat_b_));  // [B, T, H, L]
    return permute(slice(rows, 3, 0, T), {0, 2, 1, 3});
  }
  Tensor R;
  if (name == "synth-fact-random") {
    R = matmul(slice(synth_r, 1, 0, T), slice(synth_r2, 1, 0, T), false, true);  // R1 R2^T
  } else {
    R = slice(slice(synth_r, 1, 0, T), 2, 0, T);
  }
  return reshape(R, {1, H, T, T});
}

Tensor AttentionLayer::forward(const Tensor& x, const std::vector<int32_t>& key_lengths) const {
  const int64_t B = x.size(0), T = x.size(1), H = n_head_;
  if (T > context_)
    throw std::invalid_argument("attention: sequence length " + std::to_string(T) +
                                " exceeds the maximum length L = " + std::to_string(context_));
  const std::string& name = spec_.name;
  if (name == "softmax") {  // reads q, k, v straight from [B, T, 3C], writes [B, T, C]
    SoftmaxAttentionOptions options;
    options.causal = causal_;
    options.key_lengths = key_lengths;
    return c_proj.forward(softmax_self_attention_packed(c_attn.forward(x), H, options));
  }
  const bool dot = spec_.uses_dot_product();
  auto heads = split_heads(c_attn.forward(x), H, dot ? 3 : 1);
  Tensor v = heads.back();
  Tensor key_mask;  // 1 for real keys, 0 for padding: [B, H, T, D]
  if (!key_lengths.empty() && (name == "linear" || name == "linformer")) {
    const int64_t D = v.size(3);
    key_mask = Tensor::ones(v.shape());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = key_lengths[b]; t < T; ++t)
          std::fill_n(key_mask.data() + ((b * H + h) * T + t) * D, D, 0.0f);
  }
  Tensor y;
  if (name == "linear") {
    LinearAttentionOptions options;
    options.causal = causal_;
    options.chunk = spec_.chunk;
    // Padded keys: phi(k) > 0 always, so a padded key is removed by zeroing its value and
    // by a large negative key (phi -> e^-30, about 1e-13).
    Tensor k = heads[1];
    if (key_mask.defined()) {
      k = add(mul(k, key_mask), scale(sub(key_mask, Tensor::scalar(1.0f)), 30.0f));
      v = mul(v, key_mask);
    }
    y = linear_attention(heads[0], k, v, options);
  } else if (name == "linformer") {
    const Tensor& E = layerwise_projection_ ? *layerwise_projection_ : proj_e;
    const Tensor& F = proj_f.defined() ? proj_f : E;
    Tensor k = heads[1];
    if (key_mask.defined()) k = mul(k, key_mask), v = mul(v, key_mask);
    y = softmax_attention(heads[0], linformer_project(E, k), linformer_project(F, v));
  } else {
    Tensor logits = synthesizer_logits(x, T);
    if (mix_logit.defined()) {  // (1 - s) QK^T / sqrt(D) + s S
      const float inv_sqrt_d = 1.0f / std::sqrt(static_cast<float>(v.size(3)));
      Tensor s = sigmoid(mix_logit);
      Tensor dot_logits = scale(matmul(heads[0], heads[1], false, true), inv_sqrt_d);
      logits = add(mul(dot_logits, sub(Tensor::scalar(1.0f), s)), mul(logits, s));
    }
    if (!key_lengths.empty()) logits = add(logits, attention_mask(B, H, T, T, false, key_lengths));
    y = synthetic_attention(logits, v, causal_);
  }
  return c_proj.forward(merge_heads(y));
}

Tensor AttentionLayer::weights(const Tensor& x) const {
  NoGradGuard no_grad;
  const int64_t B = x.size(0), T = x.size(1), H = n_head_;
  if (T > context_)
    throw std::invalid_argument("attention: sequence length " + std::to_string(T) +
                                " exceeds the maximum length L = " + std::to_string(context_));
  const std::string& name = spec_.name;
  const bool dot = spec_.uses_dot_product();
  auto heads = split_heads(c_attn.forward(x), H, dot ? 3 : 1);
  const float inv_sqrt_d = dot ? 1.0f / std::sqrt(static_cast<float>(heads[0].size(3))) : 1.0f;
  if (name == "linear") {  // A_ij = phi(q_i).phi(k_j) / sum_j' phi(q_i).phi(k_j'), j <= i if causal
    auto phi = [](const Tensor& t) { return add(elu(t), Tensor::scalar(1.0f)); };
    Tensor a = matmul(phi(heads[0]), phi(heads[1]), false, true);
    float* p = a.data();
    for (int64_t row = 0; row < B * H * T; ++row) {
      float* r = p + row * T;
      const int64_t visible = causal_ ? row % T + 1 : T;
      std::fill(r + visible, r + T, 0.0f);
      double total = 0;
      for (int64_t j = 0; j < visible; ++j) total += r[j];
      for (int64_t j = 0; j < visible; ++j) r[j] = static_cast<float>(r[j] / total);
    }
    return a;
  }
  if (name == "linformer") {
    const Tensor& E = layerwise_projection_ ? *layerwise_projection_ : proj_e;
    Tensor logits = matmul(heads[0], linformer_project(E, heads[1]), false, true);
    return softmax(scale(logits, inv_sqrt_d));
  }
  Tensor logits;
  if (name == "softmax") {
    logits = scale(matmul(heads[0], heads[1], false, true), inv_sqrt_d);
  } else {
    logits = synthesizer_logits(x, T);
    if (mix_logit.defined()) {
      Tensor s = sigmoid(mix_logit);
      Tensor dot_logits = scale(matmul(heads[0], heads[1], false, true), inv_sqrt_d);
      logits = add(mul(dot_logits, sub(Tensor::scalar(1.0f), s)), mul(logits, s));
    }
    if (logits.size(0) != B)  // batch-shared Random logits
      logits = add(Tensor::zeros({B, H, T, T}), reshape(logits, {H, T, T}));
  }
  if (causal_) logits = add(logits, attention_mask(B, H, T, T, true, {}));
  return softmax(logits);
}

AttentionCache AttentionLayer::new_cache() const {
  const int64_t C = c_proj.weight.size(0), D = C / n_head_;
  AttentionCache cache;
  if (spec_.name == "linear") cache.linear = LinearAttentionState::zeros(n_head_, D, D);
  else cache.k = Tensor::zeros({n_head_, context_, D}), cache.v = Tensor::zeros({n_head_, context_, D});
  return cache;
}

Tensor AttentionLayer::step(const Tensor& x, AttentionCache& cache) const {
  if (!supports_step())
    throw std::logic_error("attention '" + spec_.name + "' has no single-step form");
  const int64_t C = x.size(-1), H = n_head_, D = C / H;
  if (cache.length >= context_)
    throw std::out_of_range("AttentionLayer::step: the cache holds " + std::to_string(context_) +
                            " positions and is full");
  NoGradGuard no_grad;
  Tensor qkv = c_attn.forward(x);  // [1, 1, 3C]: q heads, then k heads, then v heads
  const float* p = qkv.data();
  Tensor y = Tensor::empty({1, 1, C});
  if (spec_.name == "linear") {
    linear_attention_step(y.data(), p, p + C, p + 2 * C, cache.linear);
  } else {
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < D; ++d) {
        cache.k.data()[(h * context_ + cache.length) * D + d] = p[C + h * D + d];
        cache.v.data()[(h * context_ + cache.length) * D + d] = p[2 * C + h * D + d];
      }
    softmax_attention_step(y.data(), p, cache.k.data(), cache.v.data(), H, D, context_,
                           cache.length + 1);
  }
  cache.length++;
  return c_proj.forward(y);
}

}  // namespace attn
