#include "apps/sample.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "apps/lm_tasks.h"
#include "apps/tokenizer.h"
#include "engine/cpu_share.h"
#include "engine/tape.h"
#include "nn/checkpoint.h"

namespace attn {
namespace {

int32_t sample_token(std::vector<float> logits, float temperature, int64_t top_k, Rng& rng) {
  if (temperature <= 0.0f)  // greedy
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  const int64_t V = static_cast<int64_t>(logits.size());
  if (top_k > 0 && top_k < V) {
    std::vector<float> sorted = logits;
    std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<>());
    const float cutoff = sorted[top_k - 1];
    for (float& l : logits)
      if (l < cutoff) l = -INFINITY;
  }
  const float mx = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (float& l : logits) total += (l = std::exp((l - mx) / temperature));
  double u = rng.uniform() * total;
  for (int64_t i = 0; i < V; ++i) {
    u -= logits[i];
    if (u <= 0) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(V - 1);
}

std::unique_ptr<LanguageModel> load_model(const Checkpoint& ckpt) {
  auto model = std::make_unique<LanguageModel>(ckpt.config, 0);
  load_parameters(ckpt, model->arena());
  model->eval();
  return model;
}

Tokenizer tokenizer_of(const Checkpoint& ckpt) {
  const auto& task = ckpt.extra.at("task");
  if (task.value("kind", "") != "text")
    throw std::runtime_error(ckpt.path + ": the model was trained on a synthetic task, not text");
  return Tokenizer::from_json(task.at("tokenizer"));
}

}  // namespace

std::vector<int32_t> generate(LanguageModel& model, const std::vector<int32_t>& prompt,
                              int64_t count, float temperature, int64_t top_k, Rng& rng) {
  if (prompt.empty()) throw std::invalid_argument("generate: the prompt is empty");
  const int64_t L = model.config().context;
  std::vector<int32_t> seq = prompt;
  std::vector<float> logits;
  if (!model.supports_step())  // every causal variant has one (tests/nn/test_variants.cpp)
    throw std::invalid_argument("generate: this model's attention has no single-step form");
  auto caches = model.new_caches();
  // Feeds the last `n` tokens of seq into fresh caches (the cache holds L positions).
  auto refill = [&](int64_t n) {
    caches = model.new_caches();
    for (int64_t i = static_cast<int64_t>(seq.size()) - n; i < static_cast<int64_t>(seq.size()); ++i)
      logits = model.step(seq[i], caches);
  };
  refill(std::min<int64_t>(static_cast<int64_t>(seq.size()), L));
  for (int64_t i = 0; i < count; ++i) {
    const int32_t next = sample_token(logits, temperature, top_k, rng);
    seq.push_back(next);
    share_cpu();
    if (caches[0].length == L) refill(std::max<int64_t>(1, L / 2));
    else logits = model.step(next, caches);
  }
  return {seq.begin() + prompt.size(), seq.end()};
}

int run_sample(const SampleOptions& o) {
  if (o.tokens < 0) throw std::invalid_argument("--tokens must be >= 0");
  if (o.temperature < 0) throw std::invalid_argument("--temperature must be >= 0");
  const Checkpoint ckpt = read_checkpoint(o.checkpoint);
  const Tokenizer tok = tokenizer_of(ckpt);
  auto model = load_model(ckpt);
  std::vector<int32_t> prompt = tok.encode(o.prompt.empty() ? "\n" : o.prompt, "--prompt");
  if (prompt.empty()) prompt.push_back(0);
  Rng rng(o.seed);
  const auto ids = generate(*model, prompt, o.tokens, o.temperature, o.top_k, rng);
  std::printf("%s%s\n", o.prompt.c_str(), tok.decode(ids).c_str());
  return 0;
}

int run_eval(const std::string& checkpoint, const std::string& data, int64_t batch) {
  const Checkpoint ckpt = read_checkpoint(checkpoint);
  const Tokenizer tok = tokenizer_of(ckpt);
  auto model = load_model(ckpt);
  const std::string text = read_text_file(data);
  const auto ids = tok.encode(text, data);
  const int64_t T = ckpt.config.context;
  const int64_t windows = (static_cast<int64_t>(ids.size()) - 1) / T;
  if (windows < 1)
    throw std::runtime_error(data + ": needs more than " + std::to_string(T) + " tokens");
  NoGradGuard no_grad;
  double total = 0;
  int64_t counted = 0;
  for (int64_t w0 = 0; w0 < windows; w0 += batch) {
    const int64_t B = std::min(batch, windows - w0);
    Ids in{{B, T}, std::vector<int32_t>(B * T)}, tg{{B, T}, std::vector<int32_t>(B * T)};
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        in.values[b * T + t] = ids[(w0 + b) * T + t];
        tg.values[b * T + t] = ids[(w0 + b) * T + t + 1];
      }
    total += model->loss(in, tg).item() * B * T;
    share_cpu();
    counted += B * T;
  }
  const double loss = total / counted;
  const nlohmann::json result = {{"checkpoint", checkpoint}, {"data", data}, {"tokens", counted},
                                 {"loss", loss}, {"perplexity", std::exp(loss)}};
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace attn
