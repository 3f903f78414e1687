// Bad input: each shape mismatch names the op and both shapes.
#include <atomic>
#include <stdexcept>

#include "engine/parallel.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

TEST_CASE("shape mismatches name the op and both shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4}), c = Tensor::zeros({3, 4});
  CHECK_THROWS_WITH(add(a, b), "add: shapes [2, 3] and [4] cannot be broadcast (one must be a "
                               "trailing part of the other, or one element)");
  CHECK_THROWS_WITH(mul(a, c), doctest::Contains("mul: shapes [2, 3] and [3, 4]"));
  CHECK_THROWS_WITH(matmul(a, a), doctest::Contains("matmul: shapes [2, 3] and [2, 3] have inner dims 3 and 2"));
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 4})),
                    doctest::Contains("matmul: shapes [2, 2, 3] and [3, 3, 4] have different batch dims"));
  CHECK_THROWS_WITH(reshape(a, {4, 2}), doctest::Contains("reshape: shapes [2, 3] and [4, 2]"));
  CHECK_THROWS_WITH(concat({a, c}, 0), doctest::Contains("concat: shapes [2, 3] and [3, 4]"));
  CHECK_THROWS_WITH(layernorm(a, b, b), doctest::Contains("layernorm: shapes [2, 3] and [4]"));
  CHECK_THROWS_WITH(cross_entropy(a, Ids{{3}, {0, 1, 2}}),
                    doctest::Contains("cross_entropy: shapes [2, 3] and [3]"));
  CHECK_THROWS_WITH(split(a, 1, {1, 1}), doctest::Contains("split: shapes [2, 3] and [1, 1]"));
  CHECK_THROWS_WITH(permute(a, {0, 0}), doctest::Contains("permute: shapes [2, 3] and [0, 0]"));
}

TEST_CASE("out-of-range values give clear errors") {
  Tensor w = Tensor::zeros({4, 2});
  CHECK_THROWS_WITH(embedding(w, Ids{{2}, {1, 9}}),
                    doctest::Contains("id 9 at position 1 is outside the vocabulary [0, 4)"));
  CHECK_THROWS_WITH(cross_entropy(w, Ids{{4}, {0, 1, 7, 1}}),
                    doctest::Contains("target 7 at row 2 is outside [0, 2)"));
  CHECK_THROWS_WITH(slice(w, 0, 3, 2), doctest::Contains("slice: range [3, 5)"));
  CHECK_THROWS_WITH(transpose(Tensor::zeros({3})), doctest::Contains("transpose: needs at least 2 dims"));
  CHECK_THROWS_WITH(add(Tensor(), w), doctest::Contains("add: got an undefined tensor"));
}

TEST_CASE("an exception inside an OpenMP region reaches the caller instead of terminating") {
  ParallelErrors errors;
  std::atomic<int> ran{0};
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < 64; ++i)
    errors.capture([&] {
      ++ran;
      if (i == 7) throw std::bad_alloc();
      if (i == 9) throw std::runtime_error("second");
    });
  CHECK_THROWS(errors.rethrow());
  CHECK(ran.load() <= 64);
  ParallelErrors none;
#pragma omp parallel for
  for (int i = 0; i < 8; ++i) none.capture([] {});
  CHECK_NOTHROW(none.rethrow());
}
