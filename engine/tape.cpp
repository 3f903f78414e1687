#include "engine/tape.h"

#include "engine/op_profile.h"
#include "engine/parallel.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <unordered_set>

namespace attn {
namespace {

constexpr uint64_t kFreedGraph = ~uint64_t{0};

struct Tape {
  std::vector<Node> nodes;
  uint64_t next_id = 1;
  bool grad_enabled = true;
  BackwardListener* listener = nullptr;
};

Tape& tape() {
  thread_local Tape t;
  return t;
}

// For each node k in [0, last], the leaves (tensors no node produced) whose first reader is
// node k: once the reverse sweep has run node k, nothing adds to their gradients any more.
std::vector<std::vector<const GradSlot*>> leaves_by_first_use(const std::vector<Node>& nodes,
                                                              int64_t last) {
  std::vector<std::vector<const GradSlot*>> first_read(static_cast<size_t>(last + 1));
  std::unordered_set<const GradSlot*> seen;
  for (int64_t k = 0; k <= last; ++k)
    for (const Edge& e : nodes[k].in)
      if (e.grad && e.grad->node_id == 0 && seen.insert(e.grad.get()).second)
        first_read[k].push_back(e.grad.get());
  return first_read;
}

// Node k's backward, naming the op and node when it throws; frees the output's gradient
// once consumed (unless retained).
void run_node_backward(Node& node, int64_t k) {
  try {
    node.backward(node);
  } catch (const std::exception& e) {
    const std::string where = std::string("backward of ") + op_name(node.op) + " (node " +
                              std::to_string(k) + ", output " + to_string(node.out.shape) + ")";
    clear_tape();  // frees `node`
    throw std::runtime_error(where + ": " + e.what());
  }
  if (!node.out.grad->retain) node.out.grad->storage.reset();
}

}  // namespace

bool grad_enabled() { return tape().grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(tape().grad_enabled) { tape().grad_enabled = false; }
NoGradGuard::~NoGradGuard() { tape().grad_enabled = previous_; }

Node* record(Op op, BackwardFn backward, Tensor& out, std::vector<Tensor> inputs) {
  Tape& t = tape();
  if (!t.grad_enabled) return nullptr;
  if (op_profile_enabled()) profile_forward_op(op);
  const bool any = std::any_of(inputs.begin(), inputs.end(),
                               [](const Tensor& x) { return x.defined() && x.requires_grad(); });
  if (!any) return nullptr;
  Node& node = t.nodes.emplace_back();
  node.op = op;
  node.backward = backward;
  node.id = t.next_id++;
  node.in.reserve(inputs.size());
  for (Tensor& x : inputs) {
    Edge e;
    if (x.defined()) {
      e.shape = x.shape();
      if (x.requires_grad()) e.grad = x.grad_slot();
    }
    node.in.push_back(std::move(e));
  }
  out.requires_grad_(true);
  out.grad_slot()->node_id = node.id;
  node.out = {out.grad_slot(), out.shape()};
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
  const uint64_t root_id = root.grad_slot()->node_id;
  int64_t start = -1;
  for (int64_t k = static_cast<int64_t>(t.nodes.size()) - 1; k >= 0; --k)
    if (t.nodes[k].id == root_id) { start = k; break; }
  if (root_id == kFreedGraph)
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

  if (const char* dump = std::getenv("ATTN_TAPE"); dump && *dump == '1')
    std::fprintf(stderr, "%s", describe_tape().c_str());
  const auto ready_after = t.listener ? leaves_by_first_use(t.nodes, start)
                                      : std::vector<std::vector<const GradSlot*>>();
  for (int64_t k = start; k >= 0; --k) {
    Node& node = t.nodes[k];
    if (node.out.grad->has()) {  // else nothing flows back
      if (!op_profile_enabled()) {
        run_node_backward(node, k);
      } else {
        const Op op = node.op;  // the node is gone if its backward throws
        const auto start = std::chrono::steady_clock::now();
        run_node_backward(node, k);
        profile_backward_op(op, std::chrono::duration<double, std::milli>(
                                    std::chrono::steady_clock::now() - start).count());
      }
    }
    if (t.listener) {  // the leaves first read by node k are final now
      for (const GradSlot* leaf : ready_after[k]) t.listener->leaf_ready(leaf);
      t.listener->after_node();
    }
  }
  clear_tape();
}

BackwardListener* set_backward_listener(BackwardListener* listener) {
  BackwardListener* previous = tape().listener;
  tape().listener = listener;
  return previous;
}

void clear_tape() {
  Tape& t = tape();
  // A tensor that outlives the tape remembers that its graph is gone.
  for (Node& n : t.nodes) n.out.grad->node_id = kFreedGraph;
  t.nodes.clear();
}

size_t tape_size() { return tape().nodes.size(); }

size_t tensor_bytes(std::initializer_list<const Tensor*> tensors) {
  size_t total = 0;
  for (const Tensor* x : tensors)
    if (x->defined()) total += sizeof(float) * static_cast<size_t>(x->numel());
  return total;
}

std::string describe_tape() {
  std::string text;
  size_t total = 0;
  const auto& nodes = tape().nodes;
  for (size_t k = 0; k < nodes.size(); ++k) {
    const size_t bytes = nodes[k].saved ? nodes[k].saved->bytes() : 0;
    total += bytes;
    char line[160];
    std::snprintf(line, sizeof line, "%5zu  %-26s %-20s saves %10zu bytes\n", k,
                  op_name(nodes[k].op), to_string(nodes[k].out.shape).c_str(), bytes);
    text += line;
  }
  char line[96];
  std::snprintf(line, sizeof line, "tape: %zu nodes, %zu bytes saved\n", nodes.size(), total);
  return text + line;
}

}  // namespace attn
