// `attn sample` (text generation with a KV cache) and `attn eval` (loss and perplexity of a
// checkpoint on a text file).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/transformer.h"

namespace attn {

struct SampleOptions {
  std::string checkpoint, prompt;
  int64_t tokens = 200, top_k = 0;  // top_k 0: the whole vocabulary
  float temperature = 1.0f;
  uint64_t seed = 42;
};

// Generates `count` ids after `prompt` (which must be non-empty); the cache is refilled with
// the last half-context when it runs full.
std::vector<int32_t> generate(LanguageModel& model, const std::vector<int32_t>& prompt,
                              int64_t count, float temperature, int64_t top_k, Rng& rng);

int run_sample(const SampleOptions& options);
int run_eval(const std::string& checkpoint, const std::string& data, int64_t batch);

}  // namespace attn
