// The registry: every attention variant under its spec name, with its options and what it
// is. Adding a variant = one file in nn/variants/ (its class, validate and make functions),
// one line in nn/attention_registry.cpp, and its tests (docs/extending.md, "Add an attention
// variant").
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/attention_variant.h"

namespace attn {

struct AttentionVariantEntry {
  std::string name;
  std::string summary;               // one line: what it is (attn --help, compare tables)
  std::vector<std::string> options;  // accepted keys of name:key=value
  bool queries_and_keys = true;      // the layer projects q, k and v (false: v only)
  bool causal = true;                // usable in a causal (language) model
  std::string why_not_causal;        // the reason given when it is not
  bool quadratic_memory = false;     // holds T x T values per head (bench skips large T)
  // Checks the spec's option values for a model of maximum length L (throws via spec.fail).
  void (*validate)(const AttentionSpec& spec, int64_t L) = nullptr;
  std::unique_ptr<AttentionVariant> (*make)(const AttentionSpec& spec, const VariantSetup& setup);
  // Rows of a sequence projection shared by every layer of a model (Linformer
  // share=layerwise), 0 for none.
  int64_t (*shared_projection_rows)(const AttentionSpec& spec) = nullptr;
  // What the columns of its attention maps are (Linformer: the k rows of E K, not positions).
  std::string map_columns = "keys";
};

const std::vector<AttentionVariantEntry>& attention_variants();
// The entry of a name; throws "unknown attention variant 'x' (known: ...)".
const AttentionVariantEntry& find_attention_variant(const std::string& name);
std::vector<std::string> attention_variant_names();

}  // namespace attn
