// A length curriculum (competence-based, Platanios et al. 2019, eq. 7 with p = 2): training
// starts on the shortest examples and widens to the whole set. At step t of the first T steps
// batches are drawn from the shortest share
//     c(t) = min(1, sqrt(t (1 - c0^2) / T + c0^2))
// of the training set (sorted by length); from step T on, from all of it. Short ListOps trees
// teach the operators and the bracket structure cheaply before long ones need positions.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace attn {

constexpr double kCurriculumStartShare = 0.1;  // c0: the share of the set used at step 0

inline double curriculum_share(int64_t step, int64_t curriculum_steps) {
  if (curriculum_steps <= 0 || step >= curriculum_steps) return 1.0;
  const double c0 = kCurriculumStartShare;
  const double t = static_cast<double>(step) / static_cast<double>(curriculum_steps);
  return std::min(1.0, std::sqrt(t * (1 - c0 * c0) + c0 * c0));
}

// How many of the n shortest examples the batch at `step` may come from (at least `batch`).
inline int64_t curriculum_pool(int64_t step, int64_t curriculum_steps, int64_t n, int64_t batch) {
  const auto pool = static_cast<int64_t>(std::ceil(curriculum_share(step, curriculum_steps) * n));
  return std::clamp<int64_t>(pool, std::min(batch, n), n);
}

}  // namespace attn
