// The Synthesizer's fused tail softmax(mask(logits)) V: composed twin, finite differences,
// batch-shared logits (their gradient sums over the batch), causality, bad input.
#include "testing/composed.h"
#include "attention/synthetic_attention.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

TEST_CASE("synthetic attention equals its composed twin, per-example and shared logits") {
  for (bool causal : {false, true})
    for (int64_t logit_batch : {3, 1}) {
      CAPTURE(causal);
      CAPTURE(logit_batch);
      const int64_t B = 3, H = 2, T = 7, D = 5;
      Tensor logits = random({logit_batch, H, T, T}, 1), v = random({B, H, T, D}, 2);
      Tensor R = random({B, H, T, D}, 3, 1, false);
      Tensor fused = synthetic_attention(logits, v, causal);
      backward(fused, R);
      Tensor dl = logits.grad().clone(), dv = v.grad().clone();
      logits.release_grad(), v.release_grad();
      Tensor twin = synthetic_attention_composed(logits, v, causal);
      backward(twin, R);
      CHECK(max_abs_diff(fused, twin) < 1e-5);
      CHECK(max_abs_diff(dl, logits.grad()) < 1e-5);
      CHECK(max_abs_diff(dv, v.grad()) < 1e-5);
      logits.release_grad(), v.release_grad();
      CHECK_GRADCHECK([causal](const std::vector<Tensor>& in) { return synthetic_attention(in[0], in[1], causal); },
                      {logits, v});
    }
}

TEST_CASE("causal synthetic attention ignores logits and values after t") {
  const int64_t T = 12;
  Tensor logits = random({1, 2, T, T}, 4, 1, false), v = random({2, 2, T, 3}, 5, 1, false);
  Tensor before = synthetic_attention(logits, v, true);
  const int64_t t = 5;
  for (int64_t i = 0; i < logits.numel(); ++i)
    if (i % T > t) logits.data()[i] += 4.0f;  // keys after t
  for (int64_t i = 0; i < v.numel(); ++i)
    if ((i / 3) % T > t) v.data()[i] -= 1.0f;
  Tensor after = synthetic_attention(logits, v, true);
  for (int64_t i = 0; i < after.numel(); ++i)
    if ((i / 3) % T <= t) CHECK(after.data()[i] == before.data()[i]);
}

TEST_CASE("synthetic attention rejects bad shapes") {
  CHECK_THROWS_WITH(synthetic_attention(Tensor::zeros({2, 2, 4, 5}), Tensor::zeros({2, 2, 4, 3}), false),
                    doctest::Contains("synthetic_attention: shapes [2, 2, 4, 5] and [2, 2, 4, 3]"));
  CHECK_THROWS_WITH(synthetic_attention(Tensor::zeros({3, 2, 4, 4}), Tensor::zeros({2, 2, 4, 3}), false),
                    doctest::Contains("logits must be [B or 1, H, T, T]"));
  CHECK_THROWS_WITH(synthetic_attention(Tensor::zeros({1, 2, 0, 0}), Tensor::zeros({1, 2, 0, 3}), false),
                    doctest::Contains("must not be empty"));
}
