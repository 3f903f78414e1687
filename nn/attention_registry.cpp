// Every attention variant, one line each: name, what it is, its options, and its flags.
#include "nn/attention_registry.h"

#include <stdexcept>

#include "nn/variants/variants.h"

namespace attn {

const std::vector<AttentionVariantEntry>& attention_variants() {
  using namespace variants;
  static const std::string kLinformerNotCausal =
      "Linformer projects keys along the sequence, mixing future positions into every "
      "projected key (use it in encoders, not language models)";
  // name, summary, options, queries_and_keys, causal, why_not_causal, quadratic_memory,
  // validate, make, shared_projection_rows
  static const std::vector<AttentionVariantEntry> entries = {
      {"softmax", "scaled dot-product attention, fused and tiled (flash-style)", {}, true, true, "", false, nullptr, make_softmax},
      {"linear", "linear attention, phi = elu + 1 (Katharopoulos et al. 2020)", {"chunk"}, true, true, "", false, validate_linear, make_linear},
      {"linformer", "keys and values projected to k rows (Wang et al. 2020)", {"k", "share"}, true, false, kLinformerNotCausal, false, validate_linformer, make_linformer, linformer_shared_rows, "projected keys (rows of E K)"},
      {"synth-dense", "Dense Synthesizer: a per-token MLP predicts the logits", {}, false, true, "", true, nullptr, make_synth_dense},
      {"synth-random", "Random Synthesizer: a learned [H, L, L] logit matrix", {}, false, true, "", true, nullptr, make_synth_random},
      {"synth-random-fixed", "Random Synthesizer, fixed at initialisation", {}, false, true, "", true, nullptr, make_synth_random_fixed},
      {"synth-fact-random", "factorized Random: R = R1 R2^T, rank r", {"r"}, false, true, "", true, validate_synth_fact_random, make_synth_fact_random},
      {"synth-fact-dense", "factorized Dense: a and L/a values per token, tiled", {"a"}, false, true, "", true, validate_synth_fact_dense, make_synth_fact_dense},
      {"synth-random+softmax", "mixture of Random Synthesizer and dot-product logits", {}, true, true, "", true, nullptr, make_synth_random_mixture},
      {"synth-dense+softmax", "mixture of Dense Synthesizer and dot-product logits", {}, true, true, "", true, nullptr, make_synth_dense_mixture},
  };
  return entries;
}

const AttentionVariantEntry& find_attention_variant(const std::string& name) {
  std::string known;
  for (const auto& e : attention_variants()) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw std::invalid_argument("unknown attention variant '" + name + "' (known: " + known + ")");
}

std::vector<std::string> attention_variant_names() {
  std::vector<std::string> names;
  for (const auto& e : attention_variants()) names.push_back(e.name);
  return names;
}

}  // namespace attn
