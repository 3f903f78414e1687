#include "apps/run_summary.h"

#include <algorithm>
#include <numeric>

namespace attn {

double RunSummary::final_loss() const {
  if (losses.empty()) return -1;
  const size_t n = std::max<size_t>(1, losses.size() / 20);
  return std::accumulate(losses.end() - n, losses.end(), 0.0) / n;
}

double RunSummary::median_step_ms() const {
  if (step_ms.empty()) return 0;
  std::vector<double> sorted = step_ms;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  return sorted[sorted.size() / 2];
}

nlohmann::json RunSummary::to_json() const {
  nlohmann::json j = {{"variant", variant},
                      {"steps", losses.size()},
                      {"final_loss", final_loss()},
                      {"ms_per_step", median_step_ms()},
                      {"tokens_per_s", tokens_per_second()},
                      {"parameters", parameters},
                      {"peak_mb", peak_mb},
                      {"seconds", seconds}};
  if (val_loss >= 0) j["val_loss"] = val_loss;
  if (accuracy >= 0) j["accuracy"] = accuracy;
  return j;
}

}  // namespace attn
