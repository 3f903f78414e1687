// softmax, log-softmax, layernorm, embedding, cross-entropy: plain references and gradients.
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

TEST_CASE("softmax and log-softmax against the definition") {
  Tensor x = random({3, 4, 7}, 1, 2.0f);
  Tensor p = softmax(x), lp = log_softmax(x);
  for (int r = 0; r < 12; ++r) {
    double z = 0;
    for (int j = 0; j < 7; ++j) z += std::exp(double(x.data()[r * 7 + j]));
    for (int j = 0; j < 7; ++j) {
      const double want = std::exp(double(x.data()[r * 7 + j])) / z;
      CHECK(p.data()[r * 7 + j] == doctest::Approx(want).epsilon(1e-5));
      CHECK(lp.data()[r * 7 + j] == doctest::Approx(std::log(want)).epsilon(1e-5));
    }
  }
  clear_tape();
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return softmax(in[0]); }, {x});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, {x});
  // Large logits stay finite; a fully masked row gives zeros, not NaN.
  Tensor big = softmax(Tensor::from({1, 3}, {1000, 1000, -INFINITY}));
  CHECK(max_abs_diff(big, {0.5f, 0.5f, 0.0f}) < 1e-6);
  Tensor masked = softmax(Tensor::from({1, 2}, {-INFINITY, -INFINITY}));
  CHECK(max_abs_diff(masked, {0.0f, 0.0f}) == 0);
}

TEST_CASE("layernorm against the two-pass definition, and its three gradients") {
  Tensor x = random({2, 3, 8}, 2, 3.0f), w = random({8}, 3), b = random({8}, 4);
  Tensor y = layernorm(x, w, b);
  for (int r = 0; r < 6; ++r) {
    double m = 0, v = 0;
    for (int c = 0; c < 8; ++c) m += x.data()[r * 8 + c];
    m /= 8;
    for (int c = 0; c < 8; ++c) v += std::pow(x.data()[r * 8 + c] - m, 2);
    v /= 8;
    for (int c = 0; c < 8; ++c) {
      const double want = (x.data()[r * 8 + c] - m) / std::sqrt(v + 1e-5) * w.data()[c] + b.data()[c];
      CHECK(y.data()[r * 8 + c] == doctest::Approx(want).epsilon(1e-4));
    }
  }
  clear_tape();
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) { return layernorm(in[0], in[1], in[2]); }, {x, w, b});
}

TEST_CASE("embedding lookup and scatter-add of repeated ids") {
  clear_tape();
  Tensor w = random({5, 3}, 5);
  Ids ids{{2, 3}, {4, 1, 4, 0, 4, 2}};
  Tensor y = embedding(w, ids);
  CHECK(y.shape() == Shape{2, 3, 3});
  for (int t = 0; t < 6; ++t)
    for (int c = 0; c < 3; ++c) CHECK(y.data()[t * 3 + c] == w.data()[ids.values[t] * 3 + c]);
  backward(sum(y));
  REQUIRE(w.has_grad());
  CHECK(w.grad().data()[4 * 3] == 3.0f);  // id 4 appears three times
  CHECK(w.grad().data()[3 * 3] == 0.0f);  // id 3 never
  w.release_grad();
  CHECK_GRADCHECK([ids](const std::vector<Tensor>& in) { return embedding(in[0], ids); }, {w});
}

TEST_CASE("cross-entropy equals -log softmax at the target, ignoring ignore_index") {
  Tensor z = random({2, 3, 6}, 6, 2.0f);
  Ids t{{2, 3}, {1, 5, -1, 0, 3, 3}};
  Tensor loss = cross_entropy(z, t);
  double want = 0;
  int valid = 0;
  for (int r = 0; r < 6; ++r) {
    if (t.values[r] < 0) continue;
    double s = 0;
    for (int v = 0; v < 6; ++v) s += std::exp(double(z.data()[r * 6 + v]));
    want += std::log(s) - z.data()[r * 6 + t.values[r]];
    ++valid;
  }
  CHECK(loss.item() == doctest::Approx(want / valid).epsilon(1e-5));
  clear_tape();
  CHECK_GRADCHECK([t](const std::vector<Tensor>& in) { return cross_entropy(in[0], t); }, {z});
  // Ignored rows get exactly zero gradient.
  z.release_grad();
  backward(cross_entropy(z, t));
  for (int v = 0; v < 6; ++v) CHECK(z.grad().data()[2 * 6 + v] == 0.0f);
}

TEST_CASE("linear: dX overwrites on the first contribution and adds on later ones") {
  // x feeds two linear ops and a product: its gradient slot is fresh for the first backward
  // that reaches it, and must accumulate in the later ones.
  Tensor x = random({2, 5, 6}, 31), w1 = random({6, 4}, 32), w2 = random({6, 3}, 33);
  Tensor b1 = random({4}, 34), b2 = random({3}, 35);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Tensor a = linear(in[0], in[1], in[3]), c = linear(in[0], in[2], in[4]);
        return add(sum(mul(a, a)), add(sum(mul(c, c)), sum(mul(in[0], in[0]))));
      },
      {x, w1, w2, b1, b2});
}
