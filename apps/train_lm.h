// `attn train`: trains a causal language model on a text file or a synthetic task, with a
// progress line, metrics.jsonl, checkpoints (periodic, final, and on Ctrl-C) and --resume.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "apps/lm_tasks.h"
#include "apps/run_options.h"
#include "apps/run_summary.h"
#include "nn/config.h"
#include "nn/transformer.h"

namespace attn {

struct TrainOptions {
  // data
  std::string task = "copy";  // copy | recall | text | tokens
  std::string data, val, tokenizer = "char";
  std::string data_dir;        // tokens: a prepared dataset folder (attn prepare, or nanoGPT's)
  int64_t vocab_size = 0;      // tokens: the vocabulary of a nanoGPT folder (no dataset.json)
  double val_fraction = 0.1;
  int64_t copy_symbols = 10, copy_min_len = 1, copy_max_len = 16;
  int64_t recall_keys = 16, recall_values = 16, recall_min_pairs = 2, recall_max_pairs = 8;
  // model
  ModelConfig model;
  // optimisation
  int64_t batch = 12, steps = 2000, warmup = 100;
  int64_t grad_accum = 1;        // micro-batches per optimizer step (batch x grad_accum per step)
  float lr = 1e-3f, min_lr = 1e-4f, weight_decay = 0.1f, beta1 = 0.9f, beta2 = 0.99f;
  float grad_clip = 1.0f;
  float ema = 0;  // evaluate with weights averaged at this decay (0: off); nn/weight_average.h
  uint64_t seed = 1337;
  // run
  int threads = 0;  // 0: OpenMP's default
  int64_t eval_interval = 250, eval_iters = 20, log_interval = 10, ckpt_interval = 500;
  int64_t stop_after = 0;  // stop (with a checkpoint) after this many steps, as if interrupted
  int64_t keep_checkpoints = 0;  // also keep checkpoint-<step>.safetensors of the last N saves
  std::string out = "runs/default";
  bool quiet = false;
  bool skip_nonfinite = false;  // skip a step whose loss or gradient is not finite, instead of stopping
  double divergence = 4;          // stop when the loss stays above this x its minimum (0: off)
  int64_t divergence_steps = 10;  // ... for this many steps in a row
  // Data-parallel runs under mpirun (apps/world.h): not saved, may change on --resume.
  double rank_timeout = 60;  // seconds a rank waits for the others before ending the job
  int64_t sync_check = 100;  // steps between comparisons of the ranks' parameters
  double bucket_mb = 4;      // gradient buckets reduced during the backward (0: one at the end)
  std::string precision = "fp32";  // or "bf16" (engine/bf16.h); saved, may change on --resume
  std::string init_from;  // a new run starts from this checkpoint's weights (fine-tuning)
  bool progress = false;  // with quiet: still the live progress line on a terminal (compare)
};

void to_json(nlohmann::json& j, const TrainOptions& o);
void from_json(const nlohmann::json& j, TrainOptions& o);

// Builds the task the options describe (throws with a clear message on bad input).
std::unique_ptr<LMTask> make_task(const TrainOptions& o, const Tokenizer* fixed = nullptr);

struct EvalResult {
  double loss = 0, accuracy = -1;  // accuracy only for tasks that report it
};
EvalResult evaluate(LanguageModel& model, const LMTask& task, int64_t batch, int64_t iters,
                    uint64_t seed);

// Runs a training: new, resumed (start.resume: the run in options.out continues, with
// --steps able to extend it), or new from options.init_from's weights. Returns the process
// exit code; fills `summary` (if given) with the loss curve and the run's cost.
int train_language_model(TrainOptions options, const RunStart& start = {},
                         RunSummary* summary = nullptr);

}  // namespace attn
