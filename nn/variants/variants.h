// The variants' validate and make functions, one pair per file of this folder; the registry
// (nn/attention_registry.cpp) names them.
#pragma once
#include <memory>

#include "nn/attention_variant.h"

namespace attn::variants {

using Made = std::unique_ptr<AttentionVariant>;

Made make_softmax(const AttentionSpec& spec, const VariantSetup& setup);
Made make_linear(const AttentionSpec& spec, const VariantSetup& setup);
void validate_linear(const AttentionSpec& spec, int64_t L);
Made make_linformer(const AttentionSpec& spec, const VariantSetup& setup);
void validate_linformer(const AttentionSpec& spec, int64_t L);
int64_t linformer_shared_rows(const AttentionSpec& spec);
// The Synthesizers (nn/variants/synthesizer.h), alone and mixed with dot products.
Made make_synth_dense(const AttentionSpec& spec, const VariantSetup& setup);
Made make_synth_dense_mixture(const AttentionSpec& spec, const VariantSetup& setup);
Made make_synth_random(const AttentionSpec& spec, const VariantSetup& setup);
Made make_synth_random_mixture(const AttentionSpec& spec, const VariantSetup& setup);
Made make_synth_random_fixed(const AttentionSpec& spec, const VariantSetup& setup);
Made make_synth_fact_random(const AttentionSpec& spec, const VariantSetup& setup);
void validate_synth_fact_random(const AttentionSpec& spec, int64_t L);
Made make_synth_fact_dense(const AttentionSpec& spec, const VariantSetup& setup);
void validate_synth_fact_dense(const AttentionSpec& spec, int64_t L);

}  // namespace attn::variants
