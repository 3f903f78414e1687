// Training-step throughput of the causal LM: one JSON line with tokens/s and ms/step (median
// of timed steps after warm-up), model FLOPs and the model-FLOPs utilisation against a
// measured matmul peak when --peak-gflops is given.
//   bench_lm_step --layers 4 --heads 4 --width 128 --context 64 --batch 12 --vocab 65
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/allocator.h"
#include "engine/bf16.h"
#include "engine/cpu_share.h"
#include "engine/op_profile.h"
#include "engine/parallel.h"
#include "engine/tape.h"
#include "nn/optim.h"
#include "nn/transformer.h"

using namespace attn;

// Mean milliseconds per step by kind of op (forward and backward), the optimizer (clipping,
// AdamW, the bf16 weight copy) and the rest ("unattributed": zeroing the gradients, the
// tape's bookkeeping between backward nodes).
nlohmann::json step_breakdown(const std::vector<double>& ms, double optimizer_ms) {
  const auto n = static_cast<double>(ms.size());
  double total = 0;
  for (double m : ms) total += m;
  nlohmann::json out;
  double attributed = optimizer_ms;
  const OpProfile& p = op_profile();
  for (int k = 0; k < kOpKinds; ++k) {
    const std::string name = kind_name(static_cast<OpKind>(k));
    out[name + " forward"] = p.forward_ms[k] / n;
    out[name + " backward"] = p.backward_ms[k] / n;
    attributed += p.forward_ms[k] + p.backward_ms[k];
  }
  out["optimizer"] = optimizer_ms / n;
  out["unattributed"] = (total - attributed) / n;
  out["forward ops per step"] = static_cast<double>(p.ops) / n;
  return out;
}

int main(int argc, char** argv) {
  ModelConfig c;
  c.vocab_size = 65;
  int64_t batch = 12, steps = 30, warmup = 5;
  int threads = 0;
  double peak = 0;
  std::string precision = "fp32";
  bool breakdown = false;
  CLI::App app{"LM training-step benchmark"};
  app.add_option("--layers", c.n_layer);
  app.add_option("--heads", c.n_head);
  app.add_option("--width", c.n_embd);
  app.add_option("--context", c.context);
  app.add_option("--vocab", c.vocab_size);
  app.add_option("--attention", c.attention);
  app.add_option("--batch", batch);
  app.add_option("--steps", steps);
  app.add_option("--warmup", warmup);
  app.add_option("--threads", threads);
  app.add_option("--peak-gflops", peak, "measured matmul peak, for MFU");
  app.add_option("--precision", precision, "fp32 or bf16 (the Linear layers' products)");
  app.add_flag("--breakdown", breakdown, "also print where a step's time goes, by kind of op "
               "(engine/op_profile.h; the clock reads cost a little)");
  CLI11_PARSE(app, argc, argv);
  set_threads(threads);
  PrecisionScope scope(parse_precision(precision));

  LanguageModel model(c, 1);
  AdamW opt(model.arena(), {});
  const bool bf16 = precision == "bf16";
  if (bf16) model.arena().refresh_bf16();
  Rng rng(3);
  const int64_t T = c.context;
  Ids ids{{batch, T}, std::vector<int32_t>(batch * T)}, tg = ids;
  for (auto& v : ids.values) v = static_cast<int32_t>(rng.below(c.vocab_size));
  for (auto& v : tg.values) v = static_cast<int32_t>(rng.below(c.vocab_size));
  std::vector<double> ms;
  double optimizer_ms = 0;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    share_cpu();  // as attn train does between steps
    if (s == warmup) enable_op_profile(breakdown), optimizer_ms = 0;
    const auto t0 = std::chrono::steady_clock::now();
    mark_op_profile();
    model.arena().zero_grad();
    Tensor loss = model.loss(ids, tg);
    backward(loss);
    const auto t1 = std::chrono::steady_clock::now();
    clip_grad_norm(model.arena(), 1.0);
    opt.step(1e-3f);
    if (bf16) model.arena().refresh_bf16();  // as the trainer does after each update
    const auto t2 = std::chrono::steady_clock::now();
    optimizer_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();
    if (s >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  // Model FLOPs per step (PaLM appendix B): 6 N per token for the weights plus 6 L T C for
  // attention scores and values (the causal half counted as in nanoGPT's estimate: 12 L T C
  // halved is not assumed; we count the full 12 L T C that a dense kernel would do / 2).
  const double n_params = static_cast<double>(model.parameter_count() - c.context * c.n_embd);
  const double flops_per_token = 6 * n_params + 6.0 * c.n_layer * T * c.n_embd;
  const double tokens = static_cast<double>(batch * T);
  nlohmann::json out = {{"bench", "lm_step"}, {"engine", "attn"}, {"layers", c.n_layer},
                        {"heads", c.n_head}, {"width", c.n_embd}, {"context", T},
                        {"batch", batch}, {"vocab", c.vocab_size}, {"attention", c.attention},
                        {"precision", precision},
                        {"threads", attn::threads()}, {"threads_automatic", threads_automatic()},
                        {"params", model.parameter_count()}, {"ms_per_step", median},
                        {"tokens_per_s", tokens / median * 1e3},
                        {"model_gflops_per_s", flops_per_token * tokens / median * 1e-6},
                        {"peak_mb", allocator_stats().peak_bytes / 1048576.0}};
  if (peak > 0) out["mfu"] = flops_per_token * tokens / median * 1e-6 / peak;
  if (breakdown) out["breakdown_ms"] = step_breakdown(ms, optimizer_ms);
  std::printf("%s\n", out.dump().c_str());
}
