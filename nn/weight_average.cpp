#include "nn/weight_average.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace attn {

WeightAverage::WeightAverage(ParameterArena& arena, float decay)
    : arena_(arena), decay_(decay), average_(arena.values(), arena.values() + arena.size()) {
  if (!(decay >= 0.0f && decay < 1.0f))
    throw std::invalid_argument("weight average: the decay must be in [0, 1), got " +
                                std::to_string(decay));
}

void WeightAverage::update() {
  ++updates_;
  const float d = std::min(decay_, static_cast<float>(1 + updates_) / static_cast<float>(10 + updates_));
  const float* theta = arena_.values();
  float* avg = average_.data();
  const int64_t n = arena_.size();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) avg[i] = d * avg[i] + (1.0f - d) * theta[i];
}

void WeightAverage::restore(const std::vector<float>& values, int64_t updates) {
  if (values.size() != average_.size())
    throw std::invalid_argument("weight average: " + std::to_string(values.size()) +
                                " saved values for " + std::to_string(average_.size()) +
                                " parameters");
  average_ = values;
  updates_ = updates;
}

void WeightAverage::swap_with_model() {
  std::swap_ranges(average_.begin(), average_.end(), arena_.values());
}

}  // namespace attn
