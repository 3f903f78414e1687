// The training loop's state, shared by apps/trainer.cpp (the loop, evaluation, logging,
// checkpoints) and apps/trainer_step.cpp (one optimizer step's gradients, across ranks).
// Internal to those two files.
#pragma once
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "apps/divergence.h"
#include "apps/gradient_sync.h"
#include "apps/trainer.h"
#include "apps/world.h"
#include "nn/weight_average.h"

namespace attn {

using Clock = std::chrono::steady_clock;

// The name of the first parameter holding a NaN or infinity in `values` (parameters or
// gradients, laid out as the arena), or "" when all are finite.
std::string first_nonfinite(ParameterArena& arena, const float* values);
// A 64-bit hash of the parameters' bits: data-parallel ranks compare it.
uint64_t parameter_hash(ParameterArena& arena);

// One run of the loop: the state the steps share.
class TrainingLoop {
 public:
  TrainingLoop(TrainingTask& task, const TrainerOptions& o, const nlohmann::json& extra);
  void restore(const Checkpoint& ckpt);
  int run(RunSummary* summary);

 private:
  enum class Outcome { kStepped, kSkipped, kStop };
  Outcome step(float& loss_value, double& norm, int64_t& tokens);
  // The micro-batches' forward and backward passes; sums into `report` (trainer_step.cpp).
  void accumulate_gradients(RankReport& report);
  bool weighs_micro_batches() const;  // losses weighted by scored targets (accumulation, ranks)
  // Data-parallel: every rank's report and the summed gradients (trainer_step.cpp).
  void combine_ranks(RankReport& report);
  // Data-parallel: all ranks wait until rank 0 has saved, and compare their parameters.
  void checkpoint_barrier();
  int stop_requested() const;  // the signal all ranks agreed to stop on, or 0
  void log(float loss_value, double norm, float lr, double step_seconds, nlohmann::json& line);
  bool evaluate(float loss_value, float lr, nlohmann::json& line);  // false: stop (non-finite)
  Outcome after_update(float loss_value);
  void save();
  void refresh_bf16_weights();  // in bf16 precision: after every change of the parameters
  void finish(int exit_code, size_t bytes_before, RunSummary* summary);
  void print_summary() const;
  std::string nonfinite_gradient_name();
  // Why the run stops without a new checkpoint, and where the last good one is; returns 3.
  int stop_unsaved(const std::string& why) const;
  bool finite_evaluation(const nlohmann::json& metrics) const;

  TrainingTask& task_;
  const TrainerOptions& o_;
  const nlohmann::json& extra_;
  AdamW optimizer_;
  std::unique_ptr<WeightAverage> average_;
  Rng data_rng_;
  TrainState state_;
  bool tty_;
  FILE* metrics_ = nullptr;
  DivergenceWatch divergence_;
  Clock::time_point t0_;
  int64_t steps_this_run_ = 0, skipped_ = 0, tokens_this_run_ = 0;
  EvalReport last_eval_, best_;  // this run's last and lowest-loss evaluations
  int64_t best_step_ = -1;
  RunSummary run_;
  World& world_;
  bool writer_;  // this rank prints and writes files (rank 0)
  std::unique_ptr<GradientSync> sync_;  // data-parallel runs only
  int agreed_stop_ = 0;                 // data-parallel: the stop signal all ranks saw
  std::atomic<int64_t> announced_step_{0};  // state_.step, for the signal handler
  double communication_ms_ = 0;  // data-parallel: the last step's wait for the other ranks
};

}  // namespace attn
