// CROSS_ENTROPY, fused with its softmax: loss = mean over rows with target != ignore of
//   lse(z) - z[target],   lse(z) = max + log sum e^(z - max).
// Saves lse per row (not the probabilities: the logits are an input and stay alive), so the
// backward rebuilds p = e^(z - lse) on the fly:  dZ = (p - onehot(target)) dLoss / n_valid.
#include <cmath>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/simd_math.h"
#include "engine/tape.h"

namespace attn {
namespace {

struct CrossEntropySaved : Saved {
  Tensor logits, lse;  // lse [rows]: the log-sum-exp of each row
  std::vector<int32_t> targets;
  int32_t ignore_index = -1;
  float factor = 0;  // 1 / n_valid
  size_t bytes() const override {
    return tensor_bytes({&logits, &lse}) + targets.size() * sizeof(int32_t);
  }
};

void cross_entropy_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const auto& s = node.state<CrossEntropySaved>();
  const int64_t V = node.in[0].size(-1), rows = node.in[0].numel() / V;
  const float* z = s.logits.data();
  const float* lse = s.lse.data();
  const auto& target = s.targets;
  const int32_t ignore = s.ignore_index;
  const float factor = node.grad_out()[0] * s.factor;
  float* dz = node.grad_in(0);
#pragma omp parallel for if (rows * V > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    if (target[r] == ignore) continue;
    const float *zr = z + r * V, l = lse[r];
    float* dr = dz + r * V;
#pragma omp simd
    for (int64_t v = 0; v < V; ++v) dr[v] += factor * fast_exp(zr[v] - l);
    dr[target[r]] -= factor;
  }
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Ids& targets, int32_t ignore_index) {
  check_defined("cross_entropy", logits);
  if (logits.dim() < 1 || logits.size(-1) == 0)
    arg_error("cross_entropy", "logits must be [..., V] with V > 0, got " +
                                   to_string(logits.shape()));
  const int64_t V = logits.size(-1), rows = logits.numel() / V;
  if (static_cast<int64_t>(targets.values.size()) != rows)
    shape_error("cross_entropy", logits.shape(), targets.shape,
                "do not match: one target per row of logits is needed");
  int64_t n_valid = 0;
  for (size_t r = 0; r < targets.values.size(); ++r) {
    const int32_t t = targets.values[r];
    if (t == ignore_index) continue;
    if (t < 0 || t >= V)
      arg_error("cross_entropy", "target " + std::to_string(t) + " at row " + std::to_string(r) +
                                     " is outside [0, " + std::to_string(V) + ")");
    ++n_valid;
  }
  Tensor lse = Tensor::empty({rows});
  const float* z = logits.data();
  float* l = lse.data();
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) if (rows * V > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* zr = z + r * V;
    float mx = zr[0];
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, zr[v]);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t v = 0; v < V; ++v) s += fast_exp(zr[v] - mx);
    l[r] = mx + std::log(s);
    if (targets.values[r] != ignore_index) total += l[r] - zr[targets.values[r]];
  }
  const float factor = n_valid > 0 ? 1.0f / static_cast<float>(n_valid) : 0.0f;
  Tensor out = Tensor::scalar(static_cast<float>(total) * factor);
  if (Node* node = record(Op::CROSS_ENTROPY, cross_entropy_backward, out, {logits}))
  {
    auto& s = node->save<CrossEntropySaved>();
    s.logits = logits, s.lse = lse, s.targets = targets.values;
    s.ignore_index = ignore_index, s.factor = factor;
  }
  return out;
}

}  // namespace attn
