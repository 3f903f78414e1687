// The tape: a flat list of nodes in execution order, walked in reverse by backward().
//
// Every differentiable op runs its forward kernel, then calls record() with its output and
// inputs. If gradients are enabled and some input requires a gradient, a Node is appended
// holding the op id, the gradient routes of its output and inputs (Edge: shapes and gradient
// slots, not data), what the op saved (a typed struct) and a plain function pointer to its
// backward. backward(loss) seeds d(loss) = 1, walks the tape from the loss's node down to the
// first node, and lets each node accumulate (+=) into the gradients of the inputs that
// require one. Gradients of non-leaf tensors are freed once consumed (unless retain_grad_()).
// Afterwards the tape is cleared: a second backward() through the same graph throws, as in
// PyTorch without retain_graph.
#pragma once
#include <cstdint>
#include <memory>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

namespace attn {

struct Node;
using BackwardFn = void (*)(Node&);

// A gradient route: the slot where a tensor's gradient accumulates and the tensor's shape,
// without its data (a node keeps data alive only through what it saves).
struct Edge {
  std::shared_ptr<GradSlot> grad;  // null: this tensor needs no gradient
  Shape shape;
  int64_t numel() const { return numel_of(shape); }
  int dim() const { return static_cast<int>(shape.size()); }
  int64_t size(int d) const { return shape[d < 0 ? d + dim() : d]; }
};

// What an op's backward reads, as a named struct of the op's own (e.g. MatmulSaved {a, b,
// trans_a, trans_b}); bytes() is what it keeps alive, for the tape dump.
struct Saved {
  virtual ~Saved() = default;
  virtual size_t bytes() const { return 0; }
};
size_t tensor_bytes(std::initializer_list<const Tensor*> tensors);

struct Node {
  Op op;
  BackwardFn backward;
  uint64_t id;
  Edge out;                   // the output's gradient (read)
  std::vector<Edge> in;       // each input's gradient (written where it needs one)
  std::unique_ptr<Saved> saved;

  // A new saved state of the op's type for the binding to fill; the backward reads it back
  // with state<T>().
  template <class T>
  T& save() {
    auto owned = std::make_unique<T>();
    T& ref = *owned;
    saved = std::move(owned);
    return ref;
  }
  template <class T>
  const T& state() const { return static_cast<const T&>(*saved); }

  // Gradient of the output, and of input k (allocated zeroed on first use).
  const float* grad_out() { return out.grad->data(); }
  bool needs_grad(int k) const { return in[k].grad != nullptr; }
  float* grad_in(int k) { return in[k].grad->data(); }
  // Input k's gradient for a backward that writes all of it when *fresh (no earlier
  // contribution: no zero fill needed) and adds to it otherwise (GradSlot::data_for_overwrite).
  float* grad_in_for_overwrite(int k, bool* fresh) { return in[k].grad->data_for_overwrite(fresh); }
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

// Told by backward() as its sweep goes: leaf_ready(slot) once no node left to run reads the
// leaf `slot` (its gradient is final, so data-parallel training can start reducing it while
// the rest of the backward runs, as PyTorch DDP's hooks and llm.c's per-layer reductions do),
// and after_node() after every node (a chance to progress communication).
class BackwardListener {
 public:
  virtual ~BackwardListener() = default;
  virtual void leaf_ready(const GradSlot* slot) = 0;
  virtual void after_node() = 0;
};
// Installs `listener` for this thread's backward() calls (nullptr: none); returns the
// previous one.
BackwardListener* set_backward_listener(BackwardListener* listener);

void clear_tape();
size_t tape_size();
// One line per recorded node: index, op, output shape, bytes its saved state keeps alive
// (also printed to stderr before each backward when ATTN_TAPE=1).
std::string describe_tape();

}  // namespace attn
