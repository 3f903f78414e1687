// Exponential moving average of the weights (Polyak averaging): a shadow copy that follows
// the parameters, avg = d avg + (1 - d) theta after each optimiser step, so it averages over
// roughly the last 1 / (1 - d) steps. Evaluating with it smooths out the step-to-step noise of
// small-batch training. The effective decay min(d, (1 + n) / (10 + n)) after n updates keeps
// the first updates from being dominated by the initial weights.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/module.h"

namespace attn {

class WeightAverage {
 public:
  WeightAverage(ParameterArena& arena, float decay);
  void update();                      // after each optimiser step
  void swap_with_model();             // exchanges the model's weights and the average
  int64_t updates() const { return updates_; }
  const std::vector<float>& average() const { return average_; }
  // Continues a saved average (arena-sized values after `updates` updates).
  void restore(const std::vector<float>& values, int64_t updates);

 private:
  ParameterArena& arena_;
  float decay_;
  std::vector<float> average_;
  int64_t updates_ = 0;
};

// Evaluates with the averaged weights for the scope's lifetime (nothing if average is null).
class AveragedWeightsScope {
 public:
  explicit AveragedWeightsScope(WeightAverage* average) : average_(average) {
    if (average_) average_->swap_with_model();
  }
  ~AveragedWeightsScope() {
    if (average_) average_->swap_with_model();
  }
  AveragedWeightsScope(const AveragedWeightsScope&) = delete;
  AveragedWeightsScope& operator=(const AveragedWeightsScope&) = delete;

 private:
  WeightAverage* average_;
};

}  // namespace attn
