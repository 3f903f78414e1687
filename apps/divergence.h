// Divergence: a training loss that stays above `factor` times its lowest value so far (never
// counting a minimum below 0.25, so that a solved task's tiny, noisy loss does not look like
// a blow-up) for `patience` steps in a row. A finite loss can diverge (4.2 to 17,720) without
// ever becoming NaN; the trainer stops such a run as it stops a non-finite one, and writes no
// checkpoint while the loss is above the bound, so the last checkpoint predates the blow-up.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace attn {

class DivergenceWatch {
 public:
  DivergenceWatch(double factor, int64_t patience) : factor_(factor), patience_(patience) {}

  // Records one step's loss; true when the run has diverged.
  bool diverged(double loss) {
    if (factor_ <= 0) return false;
    minimum_ = std::min(minimum_, loss);
    streak_ = loss > bound() ? streak_ + 1 : 0;
    return streak_ >= patience_;
  }
  bool above_bound() const { return streak_ > 0; }  // now: hold checkpoints back
  double bound() const { return factor_ * std::max(minimum_, 0.25); }
  double minimum() const { return minimum_; }
  int64_t streak() const { return streak_; }

 private:
  double factor_;
  int64_t patience_;
  double minimum_ = INFINITY;
  int64_t streak_ = 0;
};

}  // namespace attn
