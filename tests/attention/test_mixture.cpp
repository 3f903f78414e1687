// The fused mixture operator and the factorized-Dense logits: against plain references
// (composed twin, loops), finite differences, causality and padding, shapes that a batch
// shares, and bad input.
#include "attention/factorized_dense.h"
#include "attention/mixture_attention.h"
#include "testing/composed.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

struct MixtureGrads {
  Tensor out, dq, dk, dv, dS, da;
};

template <class F>
MixtureGrads run(F f, std::vector<Tensor> in, const Tensor& R) {
  for (Tensor& t : in) t.release_grad();
  Tensor out = f(in);
  backward(out, R);
  return {out, in[0].grad().clone(), in[1].grad().clone(), in[2].grad().clone(),
          in[3].grad().clone(), in[4].grad().clone()};
}

void check_mixture(int64_t B, int64_t SB, int64_t H, int64_t T, int64_t D, bool causal,
                   std::vector<int32_t> lengths = {}) {
  CAPTURE(B);
  CAPTURE(SB);
  CAPTURE(T);
  CAPTURE(causal);
  std::vector<Tensor> in = {random({B, H, T, D}, 1), random({B, H, T, D}, 2),
                            random({B, H, T, D}, 3), random({SB, H, T, T}, 4),
                            Tensor::from({1}, {0.3f}).requires_grad_()};
  Tensor R = random({B, H, T, D}, 5, 1, false);
  MixtureAttentionOptions o;
  o.causal = causal, o.key_lengths = lengths;
  auto fused = run([&](auto& t) { return mixture_attention(t[0], t[1], t[2], t[3], t[4], o); }, in, R);
  auto twin = run([&](auto& t) {
    return mixture_attention_composed(t[0], t[1], t[2], t[3], t[4], causal, lengths);
  }, in, R);
  CHECK(max_abs_diff(fused.out, twin.out) < 2e-5);
  CHECK(max_abs_diff(fused.dq, twin.dq) < 2e-4);
  CHECK(max_abs_diff(fused.dk, twin.dk) < 2e-4);
  CHECK(max_abs_diff(fused.dv, twin.dv) < 2e-4);
  CHECK(max_abs_diff(fused.dS, twin.dS) < 2e-4);
  CHECK(max_abs_diff(fused.da, twin.da) < 1e-3 * std::max(1.0f, std::abs(twin.da.item())));
}

}  // namespace

TEST_CASE("fused mixture equals its composed twin, forward and every gradient") {
  for (bool causal : {false, true}) {
    check_mixture(2, 2, 3, 7, 4, causal);     // per-example S (Dense)
    check_mixture(3, 1, 2, 9, 8, causal);     // S shared by the batch (Random)
    check_mixture(1, 1, 2, 130, 16, causal);  // longer than any gemm block
    check_mixture(2, 1, 2, 11, 4, causal, {11, 6});  // padded keys
  }
}

TEST_CASE("finite-difference gradients of the fused mixture") {
  for (bool causal : {false, true}) {
    MixtureAttentionOptions o;
    o.causal = causal;
    CHECK_GRADCHECK([o](const std::vector<Tensor>& in) {
      return mixture_attention(in[0], in[1], in[2], in[3], sigmoid(in[4]), o);
    }, {random({2, 2, 5, 3}, 6), random({2, 2, 5, 3}, 7), random({2, 2, 5, 3}, 8),
        random({1, 2, 5, 5}, 9), Tensor::from({1}, {-0.4f}).requires_grad_()});
  }
}

TEST_CASE("causal mixture: outputs at t ignore everything after t") {
  const int64_t T = 12;
  Tensor q = random({1, 2, T, 4}, 10, 1, false), k = random({1, 2, T, 4}, 11, 1, false),
         v = random({1, 2, T, 4}, 12, 1, false), S = random({1, 2, T, T}, 13, 1, false);
  Tensor a = Tensor::from({1}, {0.5f});
  MixtureAttentionOptions o;
  o.causal = true;
  Tensor before = mixture_attention(q, k, v, S, a, o);
  const int64_t t = 5;
  for (Tensor* x : {&q, &k, &v})
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t s = t + 1; s < T; ++s)
        for (int64_t d = 0; d < 4; ++d) x->data()[(h * T + s) * 4 + d] += 2.0f;
  for (int64_t h = 0; h < 2; ++h)  // and the synthesized logits of later keys
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = t + 1; j < T; ++j) S.data()[(h * T + i) * T + j] -= 3.0f;
  Tensor after = mixture_attention(q, k, v, S, a, o);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t s = 0; s <= t; ++s)
      for (int64_t d = 0; d < 4; ++d)
        CHECK(after.data()[(h * T + s) * 4 + d] == before.data()[(h * T + s) * 4 + d]);
}

TEST_CASE("factorized Dense logits equal the tiled-and-repeated product, with gradients") {
  const int64_t Bt = 2, T = 7, H = 2, a = 3, b = 3;  // a b = 9 >= T: the last block is cut
  Tensor A = random({Bt, T, H, a}, 14), Bv = random({Bt, T, H, b}, 15);
  Tensor S = factorized_dense_logits(A, Bv);
  REQUIRE(S.shape() == Shape{Bt, H, T, T});
  for (int64_t n = 0; n < Bt; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j) {
          const float want = A.data()[((n * T + i) * H + h) * a + j % a] *
                             Bv.data()[((n * T + i) * H + h) * b + j / a];
          CHECK(S.data()[((n * H + h) * T + i) * T + j] == want);
        }
  clear_tape();
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return factorized_dense_logits(in[0], in[1]); },
                  {A, Bv});
}

TEST_CASE("mixture and factorized Dense: bad input names the op and the shapes") {
  Tensor q = Tensor::zeros({1, 2, 4, 8});
  CHECK_THROWS_WITH(mixture_attention(q, q, q, Tensor::zeros({1, 2, 4, 5}), Tensor::zeros({1})),
                    doctest::Contains("mixture_attention: shapes [1, 2, 4, 5] and [1, 2, 4, 8]"));
  CHECK_THROWS_WITH(mixture_attention(q, q, q, Tensor::zeros({1, 2, 4, 4}), Tensor::zeros({2})),
                    doctest::Contains("a must hold one value"));
  CHECK_THROWS_WITH(factorized_dense_logits(Tensor::zeros({1, 9, 2, 2}), Tensor::zeros({1, 9, 2, 4})),
                    doctest::Contains("must cover the T keys"));
}
