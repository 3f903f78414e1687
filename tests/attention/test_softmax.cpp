// Fused softmax attention: against the composed twin (forward and all gradients), finite
// differences, causality, padding, the packed [B, T, 3C] form, bf16 tiles and bad input.
#include <cmath>

#include "testing/composed.h"
#include "attention/softmax_attention.h"
#include "engine/bf16.h"
#include "engine/parallel.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

struct Grads {
  Tensor out, dq, dk, dv;
};

// Output and input gradients of f(q, k, v) for the upstream gradient R.
template <class F>
Grads run(F f, Tensor q, Tensor k, Tensor v, const Tensor& R) {
  for (Tensor* t : {&q, &k, &v}) t->release_grad();
  Tensor out = f(q, k, v);
  backward(out, R);
  return {out, q.grad().clone(), k.grad().clone(), v.grad().clone()};
}

using Tiles = SoftmaxAttentionOptions::Tiles;

void check_against_twin(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, bool causal,
                        std::vector<int32_t> lengths = {}, Tiles tiles = {}) {
  CAPTURE(B);
  CAPTURE(H);
  CAPTURE(Tq);
  CAPTURE(Tk);
  CAPTURE(D);
  CAPTURE(causal);
  CAPTURE(tiles.fwd_q);
  CAPTURE(tiles.fwd_k);
  Tensor q = random({B, H, Tq, D}, 1), k = random({B, H, Tk, D}, 2), v = random({B, H, Tk, D}, 3);
  Tensor R = random({B, H, Tq, D}, 4, 1, false);
  SoftmaxAttentionOptions o;
  o.causal = causal;
  o.key_lengths = lengths;
  o.tiles = tiles;
  auto fused = run([&](auto& a, auto& b, auto& c) { return softmax_attention(a, b, c, o); }, q, k, v, R);
  auto twin = run([&](auto& a, auto& b, auto& c) {
    return softmax_attention_composed(a, b, c, causal, lengths);
  }, q, k, v, R);
  CHECK(max_abs_diff(fused.out, twin.out) < 2e-5);
  CHECK(max_abs_diff(fused.dq, twin.dq) < 2e-4);
  CHECK(max_abs_diff(fused.dk, twin.dk) < 2e-4);
  CHECK(max_abs_diff(fused.dv, twin.dv) < 2e-4);
}

}  // namespace

TEST_CASE("fused softmax attention equals the composed twin, forward and backward") {
  // Sizes smaller than one tile, with B, H, T, D all different.
  check_against_twin(2, 3, 5, 5, 4, false);
  check_against_twin(2, 3, 5, 5, 4, true);
  check_against_twin(1, 2, 70, 70, 8, true);
  check_against_twin(3, 1, 150, 150, 16, true);
  check_against_twin(2, 2, 150, 130, 16, false);  // cross-attention: Tq != Tk
  check_against_twin(1, 2, 300, 300, 32, false);
  check_against_twin(2, 2, 40, 40, 8, false, {40, 13});  // key padding
  check_against_twin(2, 2, 40, 40, 8, true, {25, 40});
}

TEST_CASE("long sequences cross the default tiles: online rescale and multi-tile backward") {
  // Forward tiles are 128 x 512 and backward 128 x 256: T = 600 spans two key tiles forward,
  // 1100 three, 2100 five; the causal backward skips and cuts tiles on the diagonal.
  for (int64_t T : {600, 1100, 2100})
    for (bool causal : {false, true}) check_against_twin(1, 1, T, T, 16, causal);
  check_against_twin(1, 2, 700, 1100, 8, false, {1100});  // cross-attention, Tq != Tk
}

TEST_CASE("tiny tiles: small shapes cross many tiles of every shape") {
  // Tiles of 3..7 rows make T = 50 cross 8-17 tiles, with ragged last tiles, key tiles wider
  // and narrower than query tiles, and causal diagonals inside a tile.
  for (Tiles tiles : {Tiles{3, 5, 4, 7}, Tiles{7, 3, 5, 4}, Tiles{1, 1, 1, 1}, Tiles{16, 16, 16, 16}})
    for (bool causal : {false, true}) {
      check_against_twin(2, 2, 50, 50, 8, causal, {}, tiles);
      check_against_twin(2, 1, 37, 37, 4, causal, {37, 20}, tiles);  // padding
    }
  check_against_twin(1, 2, 23, 41, 8, false, {}, Tiles{4, 6, 5, 3});  // Tq != Tk
  SoftmaxAttentionOptions bad;
  bad.tiles.bwd_k = 0;
  Tensor q = Tensor::zeros({1, 1, 4, 4});
  CHECK_THROWS_WITH(softmax_attention(q, q, q, bad), doctest::Contains("tile sizes must be positive"));
}

TEST_CASE("finite-difference gradients of the fused operator") {
  for (bool causal : {false, true})
    for (Tiles tiles : {Tiles{}, Tiles{2, 3, 3, 2}}) {  // one tile, and several per axis
    Tensor q = random({1, 2, 6, 3}, 5), k = random({1, 2, 6, 3}, 6), v = random({1, 2, 6, 3}, 7);
    SoftmaxAttentionOptions o;
    o.causal = causal;
    o.tiles = tiles;
    CHECK_GRADCHECK([o](const std::vector<Tensor>& in) { return softmax_attention(in[0], in[1], in[2], o); },
                    {q, k, v});
  }
}

TEST_CASE("causal: outputs at t do not change when inputs after t change") {
  const int64_t T = 140, D = 8;
  Tensor q = random({1, 2, T, D}, 8, 1, false), k = random({1, 2, T, D}, 9, 1, false),
         v = random({1, 2, T, D}, 10, 1, false);
  SoftmaxAttentionOptions o;
  o.causal = true;
  Tensor before = softmax_attention(q, k, v, o);
  const int64_t t = 77;
  for (Tensor* x : {&q, &k, &v})
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t s = t + 1; s < T; ++s)
        for (int64_t d = 0; d < D; ++d) x->data()[(h * T + s) * D + d] += 3.0f;
  Tensor after = softmax_attention(q, k, v, o);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t s = 0; s < T; ++s)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = (h * T + s) * D + d;
        if (s <= t) CHECK(after.data()[i] == before.data()[i]);  // exactly
      }
  CHECK(max_abs_diff(after, before) > 0);  // later positions did change
}

TEST_CASE("the packed [B, T, 3C] form equals split heads") {
  const int64_t B = 2, T = 90, H = 3, D = 8, C = H * D;
  Tensor qkv = random({B, T, 3 * C}, 11);
  Tensor R = random({B, T, C}, 12, 1, false);
  SoftmaxAttentionOptions o;
  o.causal = true;
  Tensor packed = softmax_self_attention_packed(qkv, H, o);
  backward(packed, R);
  Tensor g_packed = qkv.grad().clone();
  qkv.release_grad();
  auto parts = split(permute(reshape(qkv, {B, T, 3 * H, D}), {0, 2, 1, 3}), 1, {H, H, H});
  Tensor split_out = reshape(permute(softmax_attention(parts[0], parts[1], parts[2], o), {0, 2, 1, 3}), {B, T, C});
  backward(split_out, R);
  CHECK(max_abs_diff(packed, split_out) < 1e-6);
  CHECK(max_abs_diff(g_packed, qkv.grad()) < 1e-5);
}

TEST_CASE("bad input gives clear errors") {
  Tensor q = Tensor::zeros({1, 2, 4, 8}), k = Tensor::zeros({1, 2, 5, 8});
  SoftmaxAttentionOptions causal;
  causal.causal = true;
  CHECK_THROWS_WITH(softmax_attention(q, k, k, causal), doctest::Contains("equal lengths in causal mode"));
  CHECK_THROWS_WITH(softmax_attention(q, Tensor::zeros({1, 2, 4, 7}), Tensor::zeros({1, 2, 4, 7})),
                    doctest::Contains("softmax_attention: shapes [1, 2, 4, 8] and [1, 2, 4, 7]"));
  CHECK_THROWS_WITH(softmax_attention(q, q, k), doctest::Contains("(k and v) must be equal"));
  CHECK_THROWS_WITH(softmax_attention(Tensor::zeros({1, 2, 0, 8}), Tensor::zeros({1, 2, 0, 8}),
                                      Tensor::zeros({1, 2, 0, 8})),
                    doctest::Contains("must not be empty"));
  CHECK_THROWS_WITH(softmax_self_attention_packed(Tensor::zeros({1, 4, 10}), 3),
                    doctest::Contains("qkv must be [B, T, 3C]"));
}

namespace {

void check_bf16_tiles(int64_t B, int64_t H, int64_t T, int64_t D, bool causal,
                      std::vector<int32_t> lengths = {}, Tiles tiles = {}) {
  CAPTURE(T);
  CAPTURE(causal);
  CAPTURE(tiles.fwd_q);
  Tensor q = random({B, H, T, D}, 1), k = random({B, H, T, D}, 2), v = random({B, H, T, D}, 3);
  Tensor R = random({B, H, T, D}, 4, 1, false);
  SoftmaxAttentionOptions o;
  o.causal = causal, o.key_lengths = lengths, o.tiles = tiles;
  auto attend = [&](auto& a, auto& b, auto& c) { return softmax_attention(a, b, c, o); };
  check_bf16_tracks_f32([&] {
    const Grads r = run(attend, q, k, v, R);
    return std::vector<Tensor>{r.out, r.dq, r.dk, r.dv};
  });
}

}  // namespace

TEST_CASE("bf16 tiles track float32 within bf16's error (forward and backward)") {
  if (const std::string why = bf16_unsupported_reason(); !why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  for (bool causal : {false, true}) {
    check_bf16_tiles(2, 3, 70, 16, causal);
    check_bf16_tiles(1, 2, 600, 32, causal);  // crosses the default tiles
    check_bf16_tiles(2, 2, 50, 8, causal, {50, 21}, Tiles{7, 3, 5, 4});  // tiny tiles, padding
  }
  // The packed [B, T, 3C] entry takes the same path.
  const int64_t B = 2, T = 40, H = 2, D = 8, C = H * D;
  Tensor qkv = random({B, T, 3 * C}, 5);
  const Tensor f32 = softmax_self_attention_packed(qkv, H, {});
  PrecisionScope scope(Precision::kBF16);
  const Tensor f16 = softmax_self_attention_packed(qkv, H, {});
  CHECK(relative_error(f16, f32) < 0.01);
  CHECK(relative_error(f16, f32) > 0);
}

TEST_CASE("fewer (batch, head) pairs than threads: key tiles split across threads, dQ summed") {
  // B H = 1 or 2 pairs on 4 threads: the backward gives each key tile to a thread and sums
  // the per-thread dQ parts. Same gradients as the twin, and the same bits on every run.
  const int before = threads();
  set_threads(4);
  for (bool causal : {false, true}) {
    check_against_twin(1, 1, 700, 700, 16, causal);                      // 3 key tiles of 256
    check_against_twin(1, 2, 50, 50, 8, causal, {}, Tiles{7, 5, 6, 4});  // 13 key tiles
    check_against_twin(2, 1, 37, 37, 4, causal, {37, 20}, Tiles{3, 5, 4, 7});  // padding
  }
  Tensor q = random({1, 1, 600, 16}, 1), k = random({1, 1, 600, 16}, 2), v = random({1, 1, 600, 16}, 3);
  const Tensor R = random({1, 1, 600, 16}, 4, 1, false);
  auto attend = [](auto& a, auto& b, auto& c) { return softmax_attention(a, b, c, {}); };
  const Grads first = run(attend, q, k, v, R), second = run(attend, q, k, v, R);
  CHECK(max_abs_diff(first.dq, second.dq) == 0);
  set_threads(before);
}
