// The tape: a flat list of nodes in execution order, walked in reverse by backward().
//
// Every differentiable op runs its forward kernel, then calls record() with its output and
// inputs. If gradients are enabled and some input requires a gradient, a Node is appended
// holding the op id, the tensors, what the op saved and a plain function pointer to its
// backward. backward(loss) seeds d(loss) = 1, walks the tape from the loss's node down to the
// first node, and lets each node accumulate (+=) into the gradients of the inputs that
// require one. Gradients of non-leaf tensors are freed once consumed (unless retain_grad_()).
// Afterwards the tape is cleared: a second backward() through the same graph throws, as in
// PyTorch without retain_graph.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace attn {

struct Node;
using BackwardFn = void (*)(Node&);

struct Node {
  Op op;
  BackwardFn backward;
  uint64_t id;
  Tensor out;
  std::vector<Tensor> in;
  std::vector<Tensor> saved;             // named by each op in its file (e.g. saved[0] = lse)
  float f[4] = {0, 0, 0, 0};             // scalar arguments (scale, eps, p, ...)
  int64_t i[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // integer arguments (axis, flags, sizes, seed)
  std::shared_ptr<const Ids> ids;        // token ids (embedding, cross-entropy)
  std::shared_ptr<void> extra;           // operator-specific saved state (attention ops)

  // Gradient of the output, and of input k (allocated zeroed on first use).
  const float* grad_out() { return out.grad_data(); }
  bool needs_grad(int k) const { return in[k].requires_grad(); }
  float* grad_in(int k) { return in[k].grad_data(); }
};

bool grad_enabled();

// Stops recording while alive (evaluation, generation, finite differences).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Records `out` as produced by `op` from `inputs`. Returns the node to fill with saved state,
// or nullptr when nothing is recorded (no grad needed). Marks `out` as requiring a gradient.
Node* record(Op op, BackwardFn backward, Tensor& out, std::vector<Tensor> inputs);

// Reverse-mode sweep from `root`. A scalar root is seeded with 1; otherwise `seed` (same
// shape as root) is its incoming gradient. Clears the tape.
void backward(Tensor root, const Tensor& seed = Tensor());

void clear_tape();
size_t tape_size();

}  // namespace attn
