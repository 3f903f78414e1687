// Attention variant specs: "name" or "name:key=value,key=value", as given to --attention.
// The names, their options and what each variant is live in one table, the registry
// (nn/attention_registry.h); `attn --help` lists them.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace attn {

struct AttentionSpec {
  std::string text;                            // as given
  std::string name;                            // a registered variant
  std::map<std::string, std::string> options;  // key=value after the colon

  // The option as a positive integer (fallback when absent); throws naming the spec.
  int64_t integer(const std::string& key, int64_t fallback) const;
  std::string word(const std::string& key, const std::string& fallback) const;
  [[noreturn]] void fail(const std::string& why) const;  // "attention 'text': why"
};

// Parses and validates a spec for a model with maximum length L; `causal` rejects variants
// that cannot be causal (Linformer). Throws std::invalid_argument saying what is wrong.
AttentionSpec parse_attention_spec(const std::string& text, bool causal, int64_t L);

}  // namespace attn
