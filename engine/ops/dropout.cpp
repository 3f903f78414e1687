// DROPOUT: y = x m / (1 - p), m = [u(seed, i) >= p] with u a counter-based uniform hash.
// Nothing is saved but the seed: the backward regenerates m, dX += dY m / (1 - p).
#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/rng.h"
#include "engine/tape.h"

namespace attn {
namespace {

// y[i] (+)= x[i] * keep(i) / (1 - p)
void apply_mask(const float* x, float* y, int64_t n, float p, uint64_t seed, bool accumulate) {
  const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for if (n > kParallelMin / 4)
  for (int64_t i = 0; i < n; ++i) {
    const float v = hash_uniform(seed, static_cast<uint64_t>(i)) >= p ? x[i] * keep_scale : 0.0f;
    y[i] = accumulate ? y[i] + v : v;
  }
}

// The mask is regenerated from (seed, index): nothing of size n is saved.
struct DropoutSaved : Saved {
  float p = 0;
  uint64_t seed = 0;
};

void dropout_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const auto& s = node.state<DropoutSaved>();
  apply_mask(node.grad_out(), node.grad_in(0), node.out.numel(), s.p, s.seed, true);
}

}  // namespace

Tensor dropout(const Tensor& x, float p, uint64_t seed) {
  check_defined("dropout", x);
  if (!(p >= 0.0f && p < 1.0f)) arg_error("dropout", "p must be in [0, 1), got " + std::to_string(p));
  if (p == 0.0f) return x;
  Tensor out = Tensor::empty(x.shape());
  apply_mask(x.data(), out.data(), x.numel(), p, seed, false);
  if (Node* node = record(Op::DROPOUT, dropout_backward, out, {x})) {
    auto& s = node->save<DropoutSaved>();
    s.p = p, s.seed = seed;
  }
  return out;
}

}  // namespace attn
