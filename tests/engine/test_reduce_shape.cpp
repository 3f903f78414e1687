// Reductions and shape ops: forward against index arithmetic, gradients by finite differences.
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

TEST_CASE("sum and mean, all and last dim") {
  Tensor x = random({2, 3, 5}, 1);
  double total = 0;
  for (float v : x.to_vector()) total += v;
  CHECK(sum(x).item() == doctest::Approx(total).epsilon(1e-5));
  CHECK(mean(x).item() == doctest::Approx(total / 30).epsilon(1e-5));
  Tensor s = sum_last(x), m = mean_last(x);
  CHECK(s.shape() == Shape{2, 3});
  for (int r = 0; r < 6; ++r) {
    double row = 0;
    for (int c = 0; c < 5; ++c) row += x.data()[r * 5 + c];
    CHECK(s.data()[r] == doctest::Approx(row).epsilon(1e-5));
    CHECK(m.data()[r] == doctest::Approx(row / 5).epsilon(1e-5));
  }
  clear_tape();
  for (auto op : {sum, mean, sum_last, mean_last})
    CHECK_GRADCHECK([op](const std::vector<Tensor>& in) { return op(in[0]); }, {x});
}

TEST_CASE("max over the last dim needs no gradient") {
  Tensor x = Tensor::from({2, 3}, {1, 5, 2, -1, -3, -2}).requires_grad_();
  Tensor m = max_last(x);
  CHECK(max_abs_diff(m, {5, -1}) == 0);
  CHECK_FALSE(m.requires_grad());
}

TEST_CASE("transpose and permute move elements to the right place") {
  Tensor x = random({2, 3, 4, 5}, 2);
  Tensor t = transpose(x);
  CHECK(t.shape() == Shape{2, 3, 5, 4});
  Tensor p = permute(x, {0, 2, 1, 3});  // the head split [B, T, H, D] -> [B, H, T, D]
  CHECK(p.shape() == Shape{2, 4, 3, 5});
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 4; ++c)
        for (int d = 0; d < 5; ++d) {
          const float v = x.data()[((a * 3 + b) * 4 + c) * 5 + d];
          CHECK(t.data()[((a * 3 + b) * 5 + d) * 4 + c] == v);
          CHECK(p.data()[((a * 4 + c) * 3 + b) * 5 + d] == v);
        }
  clear_tape();
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return transpose(in[0]); }, {x});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return permute(in[0], {3, 1, 0, 2}); },
                  {x});
  Tensor m = random({3, 4}, 9);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return permute(in[0], {1, 0}); }, {m});
}

TEST_CASE("reshape, concat, slice and split round-trip with gradients") {
  Tensor a = random({2, 3, 4}, 3), b = random({2, 2, 4}, 4);
  Tensor c = concat({a, b}, 1);
  CHECK(c.shape() == Shape{2, 5, 4});
  auto parts = split(c, 1, {3, 2});
  CHECK(max_abs_diff(parts[0], a) == 0);
  CHECK(max_abs_diff(parts[1], b) == 0);
  Tensor last = slice(a, -1, 1, 2);
  CHECK(last.shape() == Shape{2, 3, 2});
  CHECK(last.data()[0] == a.data()[1]);
  clear_tape();
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 1); },
                  {a, b});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return slice(in[0], 2, 1, 2); }, {a});
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        auto p = split(in[0], 0, {1, 1});
        return mul(p[0], p[1]);
      },
      {a});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return reshape(in[0], {4, -1}); }, {a});
}
