// Attention variant specs: "name" or "name:key=value,key=value", as given to --attention.
//   softmax                    scaled dot-product attention (fused, flash-style)
//   linear[:chunk=64]          linear attention, phi = elu + 1 (chunked when causal)
//   linformer[:k=64,share=headwise]   keys/values projected to k rows; share = none |
//                              headwise | kv | layerwise; encoders only (non-causal)
//   synth-dense                Dense Synthesizer: logits from a per-token MLP
//   synth-random               Random Synthesizer: a learned [H, L, L] logit matrix
//   synth-random-fixed         the same, fixed at initialisation (never trained)
//   synth-fact-random[:r=8]    factorized Random: R = R1 R2^T with R1, R2 [H, L, r]
//   synth-fact-dense[:a=8]     factorized Dense: a and b = ceil(L/a) values per token, tiled
//   synth-random+softmax       mixture: (1 - s) QK^T/sqrt(D) + s R, s = sigmoid(learned)
//   synth-dense+softmax        mixture with the Dense logits
#pragma once
#include <string>
#include <vector>

namespace attn {

struct AttentionSpec {
  std::string name = "softmax";
  int64_t chunk = 64;               // linear
  int64_t k = 64;                   // linformer projected length
  std::string share = "headwise";   // linformer sharing
  int64_t r = 8;                    // synth-fact-random rank
  int64_t a = 8;                    // synth-fact-dense first factor
  bool uses_dot_product() const;    // needs q and k projections
  bool is_synthesizer() const;
};

// Parses and validates a spec for a model with maximum length L; `causal` rejects variants
// that cannot be causal (Linformer). Throws std::invalid_argument saying what is wrong.
AttentionSpec parse_attention_spec(const std::string& text, bool causal, int64_t L);

std::vector<std::string> attention_variant_names();

}  // namespace attn
