#include "engine/tape.h"

#include "engine/parallel.h"

#include <algorithm>
#include <stdexcept>

namespace attn {
namespace {

constexpr uint64_t kFreedGraph = ~uint64_t{0};

struct Tape {
  std::vector<Node> nodes;
  uint64_t next_id = 1;
  bool grad_enabled = true;
};

Tape& tape() {
  thread_local Tape t;
  return t;
}

}  // namespace

bool grad_enabled() { return tape().grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(tape().grad_enabled) { tape().grad_enabled = false; }
NoGradGuard::~NoGradGuard() { tape().grad_enabled = previous_; }

Node* record(Op op, BackwardFn backward, Tensor& out, std::vector<Tensor> inputs) {
  Tape& t = tape();
  if (!t.grad_enabled) return nullptr;
  const bool any = std::any_of(inputs.begin(), inputs.end(),
                               [](const Tensor& x) { return x.defined() && x.requires_grad(); });
  if (!any) return nullptr;
  Node& node = t.nodes.emplace_back();
  node.op = op;
  node.backward = backward;
  node.id = t.next_id++;
  node.in = std::move(inputs);
  out.requires_grad_(true);
  out.impl()->node_id = node.id;
  node.out = out;
  return &node;
}

void backward(Tensor root, const Tensor& seed) {
  Tape& t = tape();
  if (!root.requires_grad())
    throw std::logic_error("backward: the tensor does not require a gradient (no input of the "
                           "computation requires one, or it ran under NoGradGuard)");
  if (seed.defined() && seed.shape() != root.shape())
    throw std::invalid_argument("backward: seed shape " + to_string(seed.shape()) +
                                " differs from root shape " + to_string(root.shape()));
  if (!seed.defined() && root.numel() != 1)
    throw std::invalid_argument("backward: a non-scalar root " + to_string(root.shape()) +
                                " needs a seed gradient");
  // Find the node that produced the root.
  int64_t start = -1;
  for (int64_t k = static_cast<int64_t>(t.nodes.size()) - 1; k >= 0; --k)
    if (t.nodes[k].id == root.impl()->node_id) { start = k; break; }
  if (root.impl()->node_id == kFreedGraph)
    throw std::logic_error("backward: the graph of this tensor was freed by an earlier "
                           "backward (the tape is cleared after each backward; run the forward "
                           "again)");
  if (start < 0)
    throw std::logic_error("backward: no recorded graph leads to this tensor (it is a leaf, or "
                           "was computed on another thread)");

  float* g = root.grad_data();
  const int64_t n = root.numel();
  if (seed.defined()) {
    const float* s = seed.data();
#pragma omp parallel for simd if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) g[i] += s[i];
  } else {
    g[0] += 1.0f;  // a scalar root
  }

  for (int64_t k = start; k >= 0; --k) {
    Node& node = t.nodes[k];
    if (!node.out.has_grad()) continue;  // nothing flows back through this node
    node.backward(node);
    if (!node.out.impl()->retain_grad) node.out.release_grad();
  }
  clear_tape();
}

void clear_tape() {
  Tape& t = tape();
  // A tensor that outlives the tape remembers that its graph is gone.
  for (Node& n : t.nodes) n.out.impl()->node_id = kFreedGraph;
  t.nodes.clear();
}

size_t tape_size() { return tape().nodes.size(); }

}  // namespace attn
