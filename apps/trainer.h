// The one training loop of every app (`attn train`, `attn classify`, and through them
// `attn compare`): batches, the learning-rate schedule, clipping, AdamW, an optional weight
// average, evaluation cadence, metrics.jsonl, the progress line, checkpoints (atomic,
// numbered copies, resume), Ctrl-C, non-finite steps and determinism. An app supplies only
// what differs: its model, how a step's batch becomes a loss, and how it evaluates.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "apps/run_folder.h"
#include "apps/run_summary.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "nn/checkpoint.h"
#include "nn/config.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace attn {

struct TrainerOptions {
  std::string command = "train";  // the subcommand, in messages
  std::string out;                // run folder
  int64_t steps = 1000, warmup = 100;
  int64_t grad_accum = 1;  // micro-batches per optimizer step (gradients summed, losses averaged)
  float lr = 1e-3f, min_lr = 1e-4f;  // warmup, then cosine decay to min_lr at `steps`
  float grad_clip = 1.0f;            // global-norm clipping (0: off)
  AdamWOptions adam;
  float ema = 0;  // evaluate with weights averaged at this decay (0: off); nn/weight_average.h
  int64_t eval_interval = 250, log_interval = 10, ckpt_interval = 500;
  int64_t stop_after = 0;        // stop (with a checkpoint) after this many steps, as if interrupted
  int64_t keep_checkpoints = 0;  // numbered copies of the last N checkpoints besides the latest
  bool skip_nonfinite = false;   // skip a step whose loss or gradient is not finite
  double divergence = 4;         // stop when the loss stays above this x its minimum (0: off)
  int64_t divergence_steps = 10; // ... for this many steps in a row (apps/divergence.h)
  bool quiet = false;
  bool progress = false;  // with quiet: still the live progress line, on a terminal (compare)
  uint64_t seed = 1;  // the data order's RNG starts from seed + 100
  std::string precision = "fp32";  // or "bf16": the Linear layers' products (engine/bf16.h)
  // Data-parallel runs (mpirun; apps/world.h, apps/gradient_sync.h):
  double bucket_mb = 4;     // gradient buckets reduced during the backward pass (0: one at the end)
  int64_t sync_check = 100; // steps between comparisons of the ranks' parameters
  double rank_timeout = 60; // seconds any rank waits for the others before ending the job
};

// One evaluation: the fields it adds to metrics.jsonl and the words printed after "step N".
struct EvalReport {
  nlohmann::json metrics;
  std::string text;
  double loss = 0;        // the held-out loss (the last lines report the final and the best)
  double accuracy = -1;   // where the task scores one
};

// What an app gives the trainer.
class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  virtual ParameterArena& arena() = 0;
  virtual const ModelConfig& model_config() const = 0;
  virtual Rng& dropout_rng() = 0;
  // The mean loss of step `step` (0-based) on a batch drawn with `data_rng`, recorded on the
  // tape; `tokens` receives how many token positions the model processed and `weight` how
  // many scored targets the mean runs over (so that micro-batches weigh as one batch).
  virtual Tensor loss(int64_t step, Rng& data_rng, int64_t& tokens, double& weight) = 0;
  // Evaluation without the tape (the trainer has switched in averaged weights if asked to).
  virtual EvalReport evaluate() = 0;
};

// Trains `task` under `options`: a new run when `resume_from` is null, else it continues the
// checkpoint's run (parameters, optimizer, weight average, data and dropout RNGs, step).
// `extra` (the app's options and data description) goes into config.json and every
// checkpoint. Returns the process exit code (0; 3: non-finite or diverged; 130, 143:
// stopped by SIGINT, SIGTERM, with a checkpoint) and fills
// `summary` (if given) with the loss curve and the run's cost.
int run_trainer(TrainingTask& task, const TrainerOptions& options, const nlohmann::json& extra,
                const Checkpoint* resume_from, RunSummary* summary);

}  // namespace attn
