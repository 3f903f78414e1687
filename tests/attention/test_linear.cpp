// Linear attention: composed twin, a plain prefix-sum loop, finite differences, causality,
// chunk sizes that do and do not divide T, the recurrent step, and bad input.
#include "engine/bf16.h"
#include "testing/composed.h"
#include "attention/linear_attention.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

// The obviously-correct causal form: for each i, running sums over j <= i in double.
Tensor naive_prefix_sum(const Tensor& q, const Tensor& k, const Tensor& v, float eps) {
  const int64_t BH = q.size(0) * q.size(1), T = q.size(2), D = q.size(3), M = v.size(3);
  auto phi = [](double x) { return x > 0 ? x + 1 : std::exp(x); };
  Tensor out = Tensor::zeros(v.shape());
  for (int64_t bh = 0; bh < BH; ++bh) {
    std::vector<double> S(D * M, 0.0), z(D, 0.0);
    for (int64_t i = 0; i < T; ++i) {
      const float *qi = q.data() + (bh * T + i) * D, *ki = k.data() + (bh * T + i) * D;
      const float* vi = v.data() + (bh * T + i) * M;
      for (int64_t e = 0; e < D; ++e) {
        z[e] += phi(ki[e]);
        for (int64_t m = 0; m < M; ++m) S[e * M + m] += phi(ki[e]) * vi[m];
      }
      double den = eps;
      for (int64_t e = 0; e < D; ++e) den += phi(qi[e]) * z[e];
      for (int64_t m = 0; m < M; ++m) {
        double num = 0;
        for (int64_t e = 0; e < D; ++e) num += phi(qi[e]) * S[e * M + m];
        out.data()[(bh * T + i) * M + m] = static_cast<float>(num / den);
      }
    }
  }
  return out;
}

struct Result {
  Tensor out, dq, dk, dv;
};

template <class F>
Result run(F f, Tensor q, Tensor k, Tensor v, const Tensor& R) {
  for (Tensor* t : {&q, &k, &v}) t->release_grad();
  Tensor out = f(q, k, v);
  backward(out, R);
  return {out, q.grad().clone(), k.grad().clone(), v.grad().clone()};
}

void check_twin(int64_t B, int64_t H, int64_t T, int64_t D, int64_t M, bool causal, int64_t chunk) {
  CAPTURE(T);
  CAPTURE(D);
  CAPTURE(M);
  CAPTURE(causal);
  CAPTURE(chunk);
  Tensor q = random({B, H, T, D}, 1), k = random({B, H, T, D}, 2), v = random({B, H, T, M}, 3);
  Tensor R = random({B, H, T, M}, 4, 1, false);
  LinearAttentionOptions o;
  o.causal = causal;
  o.chunk = chunk;
  auto fused = run([&](auto& a, auto& b, auto& c) { return linear_attention(a, b, c, o); }, q, k, v, R);
  auto twin = run([&](auto& a, auto& b, auto& c) { return linear_attention_composed(a, b, c, causal); }, q, k, v, R);
  CHECK(max_abs_diff(fused.out, twin.out) < 1e-4);
  CHECK(max_abs_diff(fused.dq, twin.dq) < 1e-3);
  CHECK(max_abs_diff(fused.dk, twin.dk) < 1e-3);
  CHECK(max_abs_diff(fused.dv, twin.dv) < 1e-3);
  if (causal) CHECK(max_abs_diff(fused.out, naive_prefix_sum(q, k, v, o.eps)) < 1e-4);
}

}  // namespace

TEST_CASE("linear attention equals its composed twin, non-causal and causal, every chunking") {
  check_twin(2, 3, 9, 4, 5, false, 64);
  check_twin(1, 2, 50, 8, 8, false, 64);
  for (int64_t chunk : {1, 7, 16, 64, 100, 200})  // 7 does not divide 100; 100, 200: one chunk
    check_twin(2, 2, 100, 8, 6, true, chunk);
  check_twin(1, 3, 130, 16, 16, true, 64);
  // Longer than one group of chunks (max(1, 512 / max(chunk, M)) chunks per batched call, the
  // running states carried between groups), with a short last chunk: groups of 73, 73 and 11
  // chunks of 7, then 1 row; four groups of 8 chunks of 64, then 52 rows.
  check_twin(1, 2, 1100, 8, 6, true, 7);
  check_twin(1, 1, 2100, 8, 16, true, 64);
}

// Only some inputs want a gradient (the kernels skip dq, dk or dv and, without dq, rebuild the
// Bm tiles in the reverse sweep), and one tensor as q, k and v (its gradient sums all three).
TEST_CASE("linear attention: gradients of some inputs only, and of one input used three times") {
  const int64_t B = 1, H = 2, T = 1100, D = 8, chunk = 64;  // three groups and a tail
  Tensor R = random({B, H, T, D}, 4, 1, false);
  LinearAttentionOptions o;
  o.causal = true, o.chunk = chunk;
  for (int wanted = 1; wanted < 8; ++wanted) {
    CAPTURE(wanted);
    std::vector<Tensor> fused_grads, twin_grads;
    for (bool fused : {true, false}) {
      Tensor in[3] = {random({B, H, T, D}, 1, 1, false), random({B, H, T, D}, 2, 1, false),
                      random({B, H, T, D}, 3, 1, false)};
      for (int i = 0; i < 3; ++i)
        if (wanted >> i & 1) in[i].requires_grad_();
      Tensor out = fused ? linear_attention(in[0], in[1], in[2], o)
                         : linear_attention_composed(in[0], in[1], in[2], true);
      backward(out, R);
      for (int i = 0; i < 3; ++i) {
        CHECK((wanted >> i & 1) == in[i].has_grad());
        if (in[i].has_grad()) (fused ? fused_grads : twin_grads).push_back(in[i].grad().clone());
      }
    }
    REQUIRE(fused_grads.size() == twin_grads.size());
    for (size_t i = 0; i < fused_grads.size(); ++i)
      CHECK(max_abs_diff(fused_grads[i], twin_grads[i]) < 1e-3);
  }
  Tensor x = random({B, H, T, D}, 5);
  backward(linear_attention(x, x, x, o), R);
  const Tensor fused = x.grad().clone();
  x.release_grad();
  backward(linear_attention_composed(x, x, x, true), R);
  CHECK(max_abs_diff(fused, x.grad()) < 1e-3);
}

TEST_CASE("finite-difference gradients of linear attention") {
  for (bool causal : {false, true}) {
    Tensor q = random({1, 2, 7, 3}, 5), k = random({1, 2, 7, 3}, 6), v = random({1, 2, 7, 2}, 7);
    LinearAttentionOptions o;
    o.causal = causal;
    o.chunk = 3;
    CHECK_GRADCHECK([o](const std::vector<Tensor>& in) { return linear_attention(in[0], in[1], in[2], o); },
                    {q, k, v});
  }
}

TEST_CASE("causal linear attention: outputs at t ignore inputs after t") {
  const int64_t T = 90, D = 8;
  Tensor q = random({1, 2, T, D}, 8, 1, false), k = random({1, 2, T, D}, 9, 1, false),
         v = random({1, 2, T, D}, 10, 1, false);
  LinearAttentionOptions o;
  o.causal = true;
  o.chunk = 16;
  Tensor before = linear_attention(q, k, v, o);
  const int64_t t = 41;
  for (Tensor* x : {&q, &k, &v})
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t s = t + 1; s < T; ++s)
        for (int64_t d = 0; d < D; ++d) x->data()[(h * T + s) * D + d] -= 2.0f;
  Tensor after = linear_attention(q, k, v, o);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t s = 0; s <= t; ++s)
      for (int64_t d = 0; d < D; ++d) CHECK(after.data()[(h * T + s) * D + d] == before.data()[(h * T + s) * D + d]);
  CHECK(max_abs_diff(after, before) > 0);
}

TEST_CASE("the recurrent step reproduces the causal operator token by token") {
  const int64_t H = 3, T = 40, D = 8, M = 5;
  Tensor q = random({1, H, T, D}, 11, 1, false), k = random({1, H, T, D}, 12, 1, false),
         v = random({1, H, T, M}, 13, 1, false);
  LinearAttentionOptions o;
  o.causal = true;
  o.chunk = 16;
  Tensor full = linear_attention(q, k, v, o);
  auto state = LinearAttentionState::zeros(H, D, M);
  std::vector<float> qt(H * D), kt(H * D), vt(H * M), out(H * M);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      for (int64_t d = 0; d < D; ++d) {
        qt[h * D + d] = q.data()[(h * T + t) * D + d];
        kt[h * D + d] = k.data()[(h * T + t) * D + d];
      }
      for (int64_t m = 0; m < M; ++m) vt[h * M + m] = v.data()[(h * T + t) * M + m];
    }
    linear_attention_step(out.data(), qt.data(), kt.data(), vt.data(), state);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t m = 0; m < M; ++m)
        CHECK(out[h * M + m] == doctest::Approx(full.data()[(h * T + t) * M + m]).epsilon(1e-4));
  }
}

TEST_CASE("linear attention rejects bad input clearly") {
  Tensor q = Tensor::zeros({1, 2, 4, 8});
  CHECK_THROWS_WITH(linear_attention(q, Tensor::zeros({1, 2, 5, 8}), q),
                    doctest::Contains("linear_attention: shapes [1, 2, 4, 8] and [1, 2, 5, 8]"));
  CHECK_THROWS_WITH(linear_attention(q, q, Tensor::zeros({1, 2, 3, 8})),
                    doctest::Contains("must agree in B, H and T"));
  Tensor empty = Tensor::zeros({1, 2, 0, 8});
  CHECK_THROWS_WITH(linear_attention(empty, empty, empty), doctest::Contains("must not be empty"));
  LinearAttentionOptions o;
  o.chunk = 0;
  CHECK_THROWS_WITH(linear_attention(q, q, q, o), doctest::Contains("chunk must be at least 1"));
}

namespace {

void check_bf16_products(int64_t T, bool causal, int64_t chunk) {
  CAPTURE(T);
  CAPTURE(causal);
  CAPTURE(chunk);
  const int64_t B = 1, H = 2, D = 16, M = 16;
  Tensor q = random({B, H, T, D}, 1), k = random({B, H, T, D}, 2), v = random({B, H, T, M}, 3);
  Tensor R = random({B, H, T, M}, 4, 1, false);
  LinearAttentionOptions o;
  o.causal = causal, o.chunk = chunk;
  auto attend = [&](auto& a, auto& b, auto& c) { return linear_attention(a, b, c, o); };
  check_bf16_tracks_f32([&] {
    const Result r = run(attend, q, k, v, R);
    return std::vector<Tensor>{r.out, r.dq, r.dk, r.dv};
  });
}

}  // namespace

TEST_CASE("bf16 products track float32 within bf16's error (forward and backward)") {
  if (const std::string why = bf16_unsupported_reason(); !why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  check_bf16_products(300, false, 64);
  check_bf16_products(300, true, 64);    // 4 chunks of 64 and 44 rows
  check_bf16_products(1100, true, 64);   // two groups of 8 chunks, a third group, a tail
  check_bf16_products(100, true, 7);     // 14 chunks of 7 and 2 rows
}

