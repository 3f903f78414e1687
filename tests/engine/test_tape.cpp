#include <cmath>
#include "tests/helpers.h"
#include "engine/op_profile.h"
#include <map>
#include <vector>

using namespace attn;
using namespace attn::test;

TEST_CASE("a tensor used twice gets both gradient contributions (fan-out)") {
  Tensor x = Tensor::from({3}, {1, 2, 3}).requires_grad_();
  Tensor y = sum(mul(x, x));  // d/dx sum x^2 = 2x, via two uses of x in one op
  backward(y);
  CHECK(max_abs_diff(x.grad(), {2, 4, 6}) == 0);

  Tensor w = Tensor::from({3}, {1, 2, 3}).requires_grad_();
  Tensor h = exp(w);
  Tensor z = sum(add(scale(h, 2.0f), h));  // h feeds two ops: dz/dh = 3
  backward(z);
  for (int i = 0; i < 3; ++i) CHECK(w.grad().data()[i] == doctest::Approx(3 * h.data()[i]));
}

TEST_CASE("a first contribution overwrites, later ones add: every fan-out shape") {
  // The element-wise and linear backwards write a gradient that has no earlier contribution
  // (no zero fill) and add to it otherwise: add(x, x), a broadcast operand used twice, a
  // unary op after a binary one on the same input, and a gradient already there from an
  // earlier backward call.
  Tensor x = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6}).requires_grad_();
  backward(sum(add(x, x)));
  CHECK(max_abs_diff(x.grad(), {2, 2, 2, 2, 2, 2}) == 0);
  backward(sum(add(exp(x), scale(x, 3.0f))));  // adds e^x + 3 to the 2 already there
  for (int i = 0; i < 6; ++i) CHECK(x.grad().data()[i] == doctest::Approx(5 + std::exp(i + 1.0)));
  Tensor b = Tensor::from({3}, {1, 2, 3}).requires_grad_();
  Tensor m = Tensor::from({2, 3}, {1, 1, 1, 2, 2, 2});
  backward(sum(add(mul(m, b), b)));  // db = column sums of m (3, 3, 3) + 2 rows of ones
  CHECK(max_abs_diff(b.grad(), {5, 5, 5}) == 0);
}

TEST_CASE("gradients accumulate across backward calls until zeroed") {
  Tensor x = Tensor::from({2}, {1, 2}).requires_grad_();
  backward(sum(scale(x, 3.0f)));
  backward(sum(scale(x, 3.0f)));
  CHECK(max_abs_diff(x.grad(), {6, 6}) == 0);
  x.zero_grad();
  CHECK(max_abs_diff(x.grad(), {0, 0}) == 0);
}

TEST_CASE("inputs that need no gradient get none and are skipped") {
  Tensor x = Tensor::from({2}, {1, 2}).requires_grad_();
  Tensor c = Tensor::from({2}, {5, 7});
  backward(sum(mul(x, c)));
  CHECK(max_abs_diff(x.grad(), {5, 7}) == 0);
  CHECK_FALSE(c.has_grad());
}

TEST_CASE("no-grad guard records nothing") {
  Tensor x = Tensor::from({2}, {1, 2}).requires_grad_();
  clear_tape();
  {
    NoGradGuard guard;
    Tensor y = exp(x);
    CHECK_FALSE(y.requires_grad());
    CHECK(tape_size() == 0);
    CHECK_THROWS_WITH(backward(sum(y)), doctest::Contains("does not require a gradient"));
  }
  Tensor y = exp(x);
  CHECK(y.requires_grad());
  CHECK(tape_size() == 1);
  clear_tape();
}

TEST_CASE("a second backward through the same graph is refused; the tape is cleared") {
  Tensor x = Tensor::from({2}, {1, 2}).requires_grad_();
  Tensor loss = sum(exp(x));
  backward(loss);
  CHECK(tape_size() == 0);
  CHECK_THROWS_WITH(backward(loss), doctest::Contains("freed by an earlier backward"));
  // Running the forward again builds a new graph.
  backward(sum(exp(x)));
  CHECK(x.grad().data()[0] == doctest::Approx(2 * std::exp(1.0f)));
}

TEST_CASE("intermediate gradients are freed unless retained") {
  Tensor x = Tensor::from({2}, {1, 2}).requires_grad_();
  Tensor h = exp(x);
  Tensor k = exp(x).retain_grad_();
  backward(sum(add(h, k)));
  CHECK_FALSE(h.has_grad());
  CHECK(k.has_grad());
  CHECK(max_abs_diff(k.grad(), {1, 1}) == 0);
}

TEST_CASE("a non-scalar root needs a seed gradient") {
  Tensor x = Tensor::from({2}, {1, 2}).requires_grad_();
  Tensor y = scale(x, 2.0f);
  CHECK_THROWS_WITH(backward(y), doctest::Contains("needs a seed"));
  backward(y, Tensor::from({2}, {1, 10}));
  CHECK(max_abs_diff(x.grad(), {2, 20}) == 0);
}

TEST_CASE("a node keeps alive only what its backward reads") {
  Tensor w = random({4, 3}, 31);
  std::weak_ptr<Storage> added, multiplied;
  Tensor y, z;
  {
    Tensor t = scale(w, 2.0f), u = scale(w, 3.0f);
    added = t.impl()->storage, multiplied = u.impl()->storage;
    y = add(t, w);  // add's gradient reads no operand: t's data may go
    z = mul(u, w);  // mul's dW reads u: u's data stays
  }
  CHECK(added.expired());
  CHECK_FALSE(multiplied.expired());
  backward(add(sum(y), sum(z)));
  for (int64_t i = 0; i < w.numel(); ++i)  // d/dw (2w + w) + d/dw (3w * w) = 3 + 6w
    CHECK(w.grad().data()[i] == doctest::Approx(3.0f + 6.0f * w.data()[i]));
  CHECK(multiplied.expired());  // the tape is cleared after backward
}

TEST_CASE("the tape dump names every op, its output and the bytes it saves") {
  Tensor a = random({2, 3}, 32), b = random({3, 5}, 33);
  Tensor y = add(matmul(a, b), Tensor::scalar(1.0f));
  const std::string dump = describe_tape();
  CHECK(dump.find("matmul") != std::string::npos);
  CHECK(dump.find("[2, 5]") != std::string::npos);
  CHECK(dump.find("saves         84 bytes") != std::string::npos);  // a and b: 6 + 15 floats
  CHECK(dump.find("tape: 2 nodes, 84 bytes saved") != std::string::npos);
  clear_tape();
}

TEST_CASE("an error inside a backward names the op and its output") {
  Tensor x = random({2}, 34);
  Tensor out = Tensor::empty({2});
  record(Op::LAYERNORM, [](Node&) { throw std::runtime_error("boom"); }, out, {x});
  CHECK_THROWS_WITH(backward(sum(out)), doctest::Contains("backward of layernorm (node 0, output [2]): boom"));
  CHECK(tape_size() == 0);
}

// Records, for each leaf the tape reports final, a copy of its gradient at that moment.
struct FinalGradients : BackwardListener {
  std::vector<std::pair<const GradSlot*, std::vector<float>>> seen;
  int nodes = 0;
  std::map<const GradSlot*, Tensor> leaves;
  void leaf_ready(const GradSlot* slot) override {
    Tensor leaf = leaves.at(slot);
    const float* g = leaf.grad().data();
    seen.emplace_back(slot, std::vector<float>(g, g + leaf.numel()));
  }
  void after_node() override { ++nodes; }
};

TEST_CASE("the backward listener hears each leaf once, when its gradient is final") {
  // a feeds the first and the last op; b only the middle one; c is a constant.
  Tensor a = Tensor::from({3}, {1, -2, 3}).requires_grad_();
  Tensor b = Tensor::from({3}, {0.5f, 2, -1}).requires_grad_();
  Tensor c = Tensor::from({3}, {4, 5, 6});
  FinalGradients listener;
  listener.leaves = {{a.grad_slot().get(), a}, {b.grad_slot().get(), b}};
  Tensor h = exp(a);                      // node 0: reads a
  Tensor u = mul(add(h, b), c);           // nodes 1, 2: read b
  Tensor loss = sum(mul(u, a));           // nodes 3, 4: read a again
  CHECK(set_backward_listener(&listener) == nullptr);
  backward(loss);
  CHECK(set_backward_listener(nullptr) == &listener);
  CHECK(listener.nodes == 5);
  REQUIRE(listener.seen.size() == 2);
  CHECK(listener.seen[0].first == b.grad_slot().get());  // b is final first (read in the middle)
  CHECK(listener.seen[1].first == a.grad_slot().get());  // a only once node 0 has run
  for (auto& [slot, grad] : listener.seen) {
    Tensor leaf = listener.leaves.at(slot);
    for (int64_t i = 0; i < leaf.numel(); ++i) CHECK(grad[i] == leaf.grad().data()[i]);
  }
  // Without a listener backward tells nobody.
  listener.seen.clear();
  a.zero_grad();
  backward(sum(mul(a, a)));
  CHECK(listener.seen.empty());
}

TEST_CASE("the op profile charges forward time to recorded ops and times each backward") {
  Tensor x = Tensor::from({64, 64}, std::vector<float>(64 * 64, 0.5f)).requires_grad_();
  Tensor w = Tensor::from({64, 32}, std::vector<float>(64 * 32, 0.25f)).requires_grad_();
  enable_op_profile(true);
  mark_op_profile();
  Tensor y = sum(gelu(linear(x, w, Tensor())));  // linear (matmul), gelu (elementwise), sum
  backward(y);
  const OpProfile p = op_profile();
  enable_op_profile(false);
  CHECK(p.ops == 3);
  const int matmul = static_cast<int>(OpKind::kMatmul), other = static_cast<int>(OpKind::kOther);
  CHECK(p.forward_ms[matmul] > 0);
  CHECK(p.backward_ms[matmul] > 0);
  CHECK(p.backward_ms[static_cast<int>(OpKind::kElementwise)] > 0);
  CHECK(p.backward_ms[other] > 0);
  CHECK(p.backward_ms[static_cast<int>(OpKind::kAttention)] == 0);
  CHECK(kind_of(Op::ATTENTION_LINEAR_CAUSAL) == OpKind::kAttention);
  CHECK(std::string(kind_name(OpKind::kLayerNorm)) == "layernorm");
  // Disabled: nothing is counted.
  backward(sum(gelu(linear(x, w, Tensor()))));
  CHECK(op_profile().ops == 0);
}
