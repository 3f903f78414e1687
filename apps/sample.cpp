#include "apps/sample.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "apps/lm_tasks.h"
#include "apps/memory_estimate.h"
#include "apps/tokenizer.h"
#include "engine/cpu_share.h"
#include "engine/npy.h"
#include "engine/tape.h"
#include "nn/checkpoint.h"

namespace attn {
namespace {

std::unique_ptr<LanguageModel> load_model(const Checkpoint& ckpt) {
  check_model_fits(ckpt.config, ckpt.path);
  auto model = std::make_unique<LanguageModel>(ckpt.config, 0);
  load_evaluation_weights(ckpt, model->arena());  // the weight average where the run kept one
  model->eval();
  return model;
}

Tokenizer tokenizer_of(const Checkpoint& ckpt) { return Tokenizer::of_checkpoint(ckpt); }

// Sampling from a model without a tokenizer (trained on a nanoGPT folder): the prompt is
// comma-separated token ids (default: 0), the output the generated ids, space-separated.
int sample_token_ids(const Checkpoint& ckpt, const SampleOptions& o);

}  // namespace

int32_t sample_token(std::vector<float> logits, const SamplingOptions& o, Rng& rng) {
  if (o.temperature <= 0.0f)  // greedy
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  const int64_t V = static_cast<int64_t>(logits.size());
  if (o.top_k > 0 && o.top_k < V) {
    std::vector<float> sorted = logits;
    std::nth_element(sorted.begin(), sorted.begin() + (o.top_k - 1), sorted.end(), std::greater<>());
    const float cutoff = sorted[o.top_k - 1];
    for (float& l : logits)
      if (l < cutoff) l = -INFINITY;
  }
  const float mx = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (float& l : logits) total += (l = std::exp((l - mx) / o.temperature));
  if (o.top_p < 1.0f) {  // nucleus: the likeliest tokens whose probabilities reach top_p
    std::vector<int64_t> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
    double kept = 0;
    int64_t n = 0;
    while (n < V && (n == 0 || kept < o.top_p * total)) kept += logits[order[n++]];
    for (int64_t r = n; r < V; ++r) logits[order[r]] = 0.0f;
    total = kept;
  }
  double u = rng.uniform() * total;
  for (int64_t i = 0; i < V; ++i) {
    if (logits[i] <= 0.0f) continue;
    u -= logits[i];
    if (u <= 0) return static_cast<int32_t>(i);
  }
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<int32_t> generate(LanguageModel& model, const std::vector<int32_t>& prompt,
                              int64_t count, const SamplingOptions& sampling, Rng& rng) {
  if (prompt.empty()) throw std::invalid_argument("generate: the prompt is empty");
  if (!model.supports_step())  // every causal variant has one (tests/nn/test_variants.cpp)
    throw std::invalid_argument("generate: this model's attention has no single-step form");
  const int64_t L = model.config().context;
  std::vector<int32_t> seq = prompt;
  std::vector<float> logits;
  auto caches = model.new_caches();
  // Within the context, one cached step per token. Past it, as nanoGPT: the next token's
  // logits come from the last L tokens alone (a full forward over the cropped window, whose
  // positions start again at 0; no cache can be shifted to it).
  auto next_logits = [&](int32_t newest) {
    if (static_cast<int64_t>(seq.size()) <= L) return model.step(newest, caches);
    NoGradGuard no_grad;
    Ids window{{1, L}, std::vector<int32_t>(seq.end() - L, seq.end())};
    Tensor all = model.forward(window);
    const int64_t V = all.size(-1);
    return std::vector<float>(all.data() + (L - 1) * V, all.data() + L * V);
  };
  if (static_cast<int64_t>(seq.size()) > L) {
    logits = next_logits(seq.back());
  } else {
    for (int32_t id : seq) logits = model.step(id, caches);
  }
  for (int64_t i = 0; i < count; ++i) {
    const int32_t next = sample_token(logits, sampling, rng);
    seq.push_back(next);
    share_cpu();
    if (i + 1 < count) logits = next_logits(next);
  }
  return {seq.begin() + static_cast<int64_t>(prompt.size()), seq.end()};
}

int run_sample(const SampleOptions& o) {
  if (o.tokens < 0) throw std::invalid_argument("--tokens must be >= 0");
  if (o.sampling.temperature < 0) throw std::invalid_argument("--temperature must be >= 0");
  const Checkpoint ckpt = read_checkpoint(o.checkpoint);
  const nlohmann::json* task = ckpt.extra.contains("task") ? &ckpt.extra["task"] : nullptr;
  if (task && task->is_object() && task->value("kind", "") == "tokens" && !task->contains("tokenizer"))
    return sample_token_ids(ckpt, o);  // a nanoGPT folder's model: ids in, ids out
  const Tokenizer tok = tokenizer_of(ckpt);
  auto model = load_model(ckpt);
  std::vector<int32_t> prompt = tok.encode(o.prompt.empty() ? "\n" : o.prompt, "--prompt");
  if (prompt.empty()) prompt.push_back(0);
  if (!(o.sampling.top_p > 0.0f && o.sampling.top_p <= 1.0f))
    throw std::invalid_argument("--top-p must be in (0, 1]");
  Rng rng(o.seed);
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = generate(*model, prompt, o.tokens, o.sampling, rng);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s%s\n", o.prompt.c_str(), tok.decode(ids).c_str());
  std::fprintf(stderr, "attn sample: %zu tokens in %.2f s (%.1f tokens/s)\n", ids.size(),
               seconds, static_cast<double>(ids.size()) / std::max(seconds, 1e-9));
  return 0;
}

namespace {

int sample_token_ids(const Checkpoint& ckpt, const SampleOptions& o) {
  auto model = load_model(ckpt);
  std::vector<int32_t> prompt;
  std::stringstream list(o.prompt.empty() ? "0" : o.prompt);
  for (std::string item; std::getline(list, item, ',');) {
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception&) {
    }
    if (used != item.size() || id < 0 || id >= ckpt.config.vocab_size)
      throw std::invalid_argument("--prompt: the model has no tokenizer (a nanoGPT dataset), so "
                                  "give token ids in [0, " + std::to_string(ckpt.config.vocab_size) +
                                  ") separated by commas; '" + item + "' is not one");
    prompt.push_back(static_cast<int32_t>(id));
  }
  Rng rng(o.seed);
  for (int32_t id : generate(*model, prompt, o.tokens, o.sampling, rng)) std::printf("%d ", id);
  std::printf("\n");
  return 0;
}

}  // namespace

namespace {

// --logits DIR: the logits of the first min(context, tokens) tokens of the text, with their ids,
// so that an independent forward (docs/examples/checkpoint_logits.py) can be compared.
void write_first_logits(LanguageModel& model, const std::vector<int32_t>& ids,
                        const std::string& dir) {
  const int64_t n = std::min<int64_t>(model.config().context, static_cast<int64_t>(ids.size()));
  if (n < 1) throw std::runtime_error("--logits: the text has no tokens");
  Ids window{{1, n}, std::vector<int32_t>(ids.begin(), ids.begin() + n)};
  Tensor tokens = Tensor::zeros({n});
  for (int64_t t = 0; t < n; ++t) tokens.data()[t] = static_cast<float>(ids[t]);  // exact < 2^24
  const Tensor logits = model.forward(window);
  std::filesystem::create_directories(dir);
  save_npy(dir + "/tokens.npy", tokens);
  save_npy(dir + "/logits.npy", reshape(logits, {n, model.config().vocab_size}));
}

}  // namespace

int run_eval(const std::string& checkpoint, const std::string& data, int64_t batch,
             const std::string& logits_dir) {
  const Checkpoint ckpt = read_checkpoint(checkpoint);
  const Tokenizer tok = tokenizer_of(ckpt);
  auto model = load_model(ckpt);
  const std::string text = read_text_file(data);
  const auto ids = tok.encode(text, data);
  const int64_t T = ckpt.config.context;
  const int64_t windows = (static_cast<int64_t>(ids.size()) - 1) / T;
  NoGradGuard no_grad;
  if (!logits_dir.empty()) {
    write_first_logits(*model, ids, logits_dir);
    if (windows < 1) {  // a short prompt: the logits are all that was asked for
      std::printf("%s\n", nlohmann::json{{"checkpoint", checkpoint}, {"data", data},
                                          {"logits", logits_dir + "/logits.npy"}}.dump().c_str());
      return 0;
    }
  }
  if (windows < 1)
    throw std::runtime_error(data + ": needs more than " + std::to_string(T) + " tokens");
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
  if (!std::isfinite(loss) || !std::isfinite(std::exp(loss)))
    throw std::runtime_error(checkpoint + ": the loss on " + data + " is " + std::to_string(loss) +
                             ", whose perplexity is not a finite number");
  // Bits per byte over the text the scored tokens stand for (targets 1 .. counted).
  const std::vector<int32_t> scored(ids.begin() + 1, ids.begin() + 1 + counted);
  const double bytes = static_cast<double>(tok.decode(scored).size());
  const nlohmann::json result = {{"checkpoint", checkpoint}, {"data", data}, {"tokens", counted},
                                 {"loss", loss}, {"perplexity", std::exp(loss)},
                                 {"bpb", loss * static_cast<double>(counted) / std::log(2.0) / bytes}};
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace attn
