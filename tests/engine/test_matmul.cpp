// The oneDNN product against the triple-loop reference, every transpose, batched and shared,
// then the gradient of the op in each form.
#include "engine/gemm.h"
#include "testing/matmul_peers.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

TEST_CASE("gemm equals the reference for every transpose, alpha, accumulate and leading dim") {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool acc : {false, true}) {
        GemmShape s;
        s.batch = 3, s.M = 7, s.N = 5, s.K = 9, s.trans_a = ta, s.trans_b = tb;
        s.accumulate = acc, s.alpha = acc ? 0.5f : 1.0f;
        Tensor A = random({3, 9, 9}, 1, 1, false), B = random({3, 9, 9}, 2, 1, false);
        s.lda = 9, s.ldb = 9, s.stride_a = 81, s.stride_b = 81;  // sub-blocks of 9 x 9
        Tensor C1 = random({3, 7, 5}, 3, 1, false), C2 = C1.clone();
        gemm(s, A.data(), B.data(), C1.data());
        gemm_reference(s, A.data(), B.data(), C2.data());
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(acc);
        CHECK(max_abs_diff(C1, C2) < 1e-5);
      }
  // A B shared by the batch (stride 0).
  GemmShape s;
  s.batch = 4, s.M = 3, s.N = 6, s.K = 5, s.stride_b = 0;
  Tensor A = random({4, 3, 5}, 4, 1, false), B = random({5, 6}, 5, 1, false);
  Tensor C1 = Tensor::zeros({4, 3, 6}), C2 = Tensor::zeros({4, 3, 6});
  gemm(s, A.data(), B.data(), C1.data());
  gemm_reference(s, A.data(), B.data(), C2.data());
  CHECK(max_abs_diff(C1, C2) < 1e-5);
}

TEST_CASE("matmul op: forward and gradients, batched and with a shared 2-D weight") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      Tensor a = random(ta ? Shape{2, 4, 3} : Shape{2, 3, 4}, 1);
      Tensor b = random(tb ? Shape{2, 5, 4} : Shape{2, 4, 5}, 2);
      Tensor y = matmul(a, b, ta, tb);
      CHECK(y.shape() == Shape{2, 3, 5});
      for (int n = 0; n < 2; ++n)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 5; ++j) {
            double want = 0;
            for (int k = 0; k < 4; ++k)
              want += double(ta ? a.data()[n * 12 + k * 3 + i] : a.data()[n * 12 + i * 4 + k]) *
                      (tb ? b.data()[n * 20 + j * 4 + k] : b.data()[n * 20 + k * 5 + j]);
            CHECK(y.data()[n * 15 + i * 5 + j] == doctest::Approx(want).epsilon(1e-5));
          }
      clear_tape();
      CHECK_GRADCHECK(
          [ta, tb](const std::vector<Tensor>& in) { return matmul(in[0], in[1], ta, tb); },
          {a, b});
    }
  // Linear-layer form: [B, T, C] x [C, O] and [B, T, C] x [O, C]^T.
  Tensor x = random({2, 3, 4}, 3), w = random({4, 6}, 4), wt = random({6, 4}, 5);
  CHECK(matmul(x, w).shape() == Shape{2, 3, 6});
  clear_tape();
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {x, w});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1], false, true); },
                  {x, wt});
}

TEST_CASE("matmul of larger shapes agrees with the reference") {
  const int64_t M = 300, N = 257, K = 129;
  Tensor a = random({M, K}, 6, 1, false), b = random({K, N}, 7, 1, false);
  Tensor y = matmul(a, b);
  Tensor ref = Tensor::empty({M, N});
  GemmShape s;
  s.M = M, s.N = N, s.K = K;
  gemm_reference(s, a.data(), b.data(), ref.data());
  CHECK(max_abs_diff(y, ref) < 1e-3);
}

TEST_CASE("linear (bias fused into the product) against matmul + add, with gradients") {
  Tensor x = random({2, 3, 4}, 11), w = random({4, 5}, 12), b = random({5}, 13);
  Tensor y = linear(x, w, b);
  Tensor ref = add(matmul(x, w), b);
  CHECK(max_abs_diff(y, ref) < 1e-5);
  CHECK(linear(x, w, Tensor()).shape() == Shape{2, 3, 5});
  clear_tape();
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                  {x, w, b});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); },
                  {x, w});
  CHECK_THROWS_WITH(linear(x, Tensor::zeros({3, 5}), b),
                    doctest::Contains("linear: shapes [2, 3, 4] and [3, 5]"));
}
