// EMBEDDING: out[..., :] = W[id, :] for weight W [V, C] and integer ids of any shape.
// Backward scatters: dW[id] += dY row. Rows of one id may repeat, so threads split the
// columns of C rather than the tokens, and no two threads ever write the same element.
#include <algorithm>
#include <cstring>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/tape.h"

namespace attn {
namespace {

struct EmbeddingSaved : Saved {
  std::vector<int32_t> ids;
  size_t bytes() const override { return ids.size() * sizeof(int32_t); }
};

void embedding_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const int64_t C = node.in[0].size(1);
  const auto& ids = node.state<EmbeddingSaved>().ids;
  const int64_t n = static_cast<int64_t>(ids.size());
  const float* dy = node.grad_out();
  float* dw = node.grad_in(0);
  constexpr int64_t kBlock = 16;
#pragma omp parallel for if (n * C > kParallelMin)
  for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
    const int64_t c1 = std::min(C, c0 + kBlock);
    for (int64_t t = 0; t < n; ++t) {
      float* row = dw + static_cast<int64_t>(ids[t]) * C;
      for (int64_t c = c0; c < c1; ++c) row[c] += dy[t * C + c];
    }
  }
}

}  // namespace

Tensor embedding(const Tensor& weight, const Ids& ids) {
  check_defined("embedding", weight);
  if (weight.dim() != 2)
    arg_error("embedding", "weight must be [V, C], got " + to_string(weight.shape()));
  if (numel_of(ids.shape) != static_cast<int64_t>(ids.values.size()))
    arg_error("embedding", "ids shape " + to_string(ids.shape) + " does not match its " +
                               std::to_string(ids.values.size()) + " values");
  const int64_t V = weight.size(0), C = weight.size(1);
  for (size_t t = 0; t < ids.values.size(); ++t)
    if (ids.values[t] < 0 || ids.values[t] >= V)
      arg_error("embedding", "id " + std::to_string(ids.values[t]) + " at position " +
                                 std::to_string(t) + " is outside the vocabulary [0, " +
                                 std::to_string(V) + ")");
  Shape out_shape = ids.shape;
  out_shape.push_back(C);
  Tensor out = Tensor::empty(out_shape);
  const float* w = weight.data();
  float* y = out.data();
  const int64_t n = static_cast<int64_t>(ids.values.size());
#pragma omp parallel for if (n * C > kParallelMin)
  for (int64_t t = 0; t < n; ++t)
    std::memcpy(y + t * C, w + static_cast<int64_t>(ids.values[t]) * C, sizeof(float) * C);
  if (Node* node = record(Op::EMBEDDING, embedding_backward, out, {weight}))
    node->save<EmbeddingSaved>().ids = ids.values;
  return out;
}

}  // namespace attn
