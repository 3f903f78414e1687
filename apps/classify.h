// `attn classify`: trains the encoder classifier on ListOps (generated with LRA's rules, or
// LRA TSV files) or on label,text CSV files (byte- or word-level), then reports accuracy,
// per-class precision and recall and the confusion matrix (stdout and <out>/eval.json).
// Checkpoints, --resume and --stop-after as `attn train`; --eval-only --checkpoint FILE
// evaluates a trained classifier again.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "apps/run_options.h"
#include "apps/run_summary.h"
#include "nn/config.h"

namespace attn {

struct ClassifyOptions {
  std::string task = "listops";             // listops | csv
  std::string train_file, test_file;        // TSV (listops) or CSV; listops generates if empty
  int64_t listops_min_len = 100, listops_max_len = 500, listops_train = 2000, listops_test = 500;
  int64_t listops_train_min_len = -1;       // training lengths > this (-1: listops_min_len)
  std::string tokenizer = "word";           // csv: byte | word
  int64_t vocab_words = 20000;              // csv word level: most frequent words kept
  std::string pooling = "mean";             // mean | cls
  ModelConfig model;                        // context = maximum sequence length
  int64_t batch = 32, steps = 1000, warmup = 100;
  int64_t grad_accum = 1;        // micro-batches per optimizer step (batch x grad_accum per step)
  bool bucket = true;                       // batches of similar lengths (less padding)
  int64_t curriculum = 0;                   // steps of the length curriculum (0: off)
  float ema = 0;                            // evaluate with weights averaged at this decay (0: off)
  float lr = 1e-3f, weight_decay = 0.01f;
  uint64_t seed = 1;
  int threads = 0;
  int64_t eval_interval = 250, log_interval = 10, ckpt_interval = 500;
  int64_t stop_after = 0;        // stop (with a checkpoint) after this many steps, as if interrupted
  int64_t keep_checkpoints = 0;  // also keep checkpoint-<step>.safetensors of the last N saves
  std::string out = "runs/classify";
  bool quiet = false;
  bool skip_nonfinite = false;   // skip a step whose loss or gradient is not finite, instead of stopping
  double divergence = 4;          // stop when the loss stays above this x its minimum (0: off)
  int64_t divergence_steps = 10;  // ... for this many steps in a row
  // Data-parallel runs under mpirun (apps/world.h): not saved, may change on --resume.
  double rank_timeout = 60;  // seconds a rank waits for the others before ending the job
  int64_t sync_check = 100;  // steps between comparisons of the ranks' parameters
  double bucket_mb = 4;      // gradient buckets reduced during the backward (0: one at the end)
  std::string precision = "fp32";  // or "bf16" (engine/bf16.h); saved, may change on --resume
  bool progress = false;         // with quiet: still the live progress line on a terminal (compare)
  bool eval_only = false;        // evaluate `checkpoint` instead of training
  std::string checkpoint;
};

void to_json(nlohmann::json& j, const ClassifyOptions& o);
void from_json(const nlohmann::json& j, ClassifyOptions& o);

// Runs (or, with resume, continues) a training through the shared trainer (apps/trainer.h).
// Returns the process exit code; fills `summary` (if given) with the loss curve, the final
// test accuracy and the run's cost.
int run_classify(ClassifyOptions options, const RunStart& start = {},
                 RunSummary* summary = nullptr);

}  // namespace attn
