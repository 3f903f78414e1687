// `attn sample` (text generation with a KV cache) and `attn eval` (loss and perplexity of a
// checkpoint on a text file).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nn/transformer.h"

namespace attn {

struct SamplingOptions {
  float temperature = 1.0f;  // 0: greedy
  int64_t top_k = 0;         // among the k likeliest (0: the whole vocabulary)
  float top_p = 1.0f;        // nucleus: the likeliest tokens reaching this probability mass
};

struct SampleOptions {
  std::string checkpoint, prompt;
  int64_t tokens = 200;
  SamplingOptions sampling;
  uint64_t seed = 42;
};

// One token drawn from logits [V]: temperature, then top-k, then top-p.
int32_t sample_token(std::vector<float> logits, const SamplingOptions& options, Rng& rng);

// Generates `count` ids after `prompt` (which must be non-empty). Within the context each
// token costs one cached step; past it, the next token is predicted from the last L tokens
// alone (cropped, as nanoGPT), by a full forward over that window.
std::vector<int32_t> generate(LanguageModel& model, const std::vector<int32_t>& prompt,
                              int64_t count, const SamplingOptions& sampling, Rng& rng);

int run_sample(const SampleOptions& options);
// Loss, perplexity and bits per byte of the text's whole context windows; with logits_dir,
// also writes tokens.npy and logits.npy [T', V] of its first T' = min(context, tokens) tokens.
int run_eval(const std::string& checkpoint, const std::string& data, int64_t batch,
             const std::string& logits_dir = "");

}  // namespace attn
