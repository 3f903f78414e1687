// What one training run reports to `attn compare`: the loss curve, the final numbers, the cost.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace attn {

struct RunSummary {
  std::string variant;
  std::vector<double> losses;   // training loss at every step
  std::vector<double> step_ms;  // wall time of every step
  double val_loss = -1;         // last evaluation (LM tasks)
  double accuracy = -1;         // last evaluation, where the task defines it
  double tokens_per_step = 0;   // tokens the model processed per step (padding included)
  int64_t parameters = 0;
  double peak_mb = 0;           // allocator high-water mark above what was live at the start
  double seconds = 0;           // whole run, evaluations included
  // Test accuracy of trivial predictors on the same data (classification): "majority class",
  // and for ListOps "outer-operator shortcut". The same for every variant of a comparison.
  std::map<std::string, double> baselines;
  nlohmann::json last_evaluation;  // the metrics fields of the last evaluation
  std::vector<nlohmann::json> evaluations;  // every evaluation's fields, with its "step"
  bool finished = false;           // reached the last step (not stopped or interrupted)

  // Mean training loss of the last 5% of steps (a single step's loss is noisy).
  double final_loss() const;
  double median_step_ms() const;
  double tokens_per_second() const {  // 0 for a run that took no step
    return median_step_ms() > 0 ? tokens_per_step / (median_step_ms() / 1e3) : 0.0;
  }
  nlohmann::json to_json() const;  // everything but the per-step vectors, plus the derived numbers
};

}  // namespace attn
