// Shared test helpers: random tensors, closeness checks and a gradcheck assertion.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "testing/gradcheck.h"
#include "engine/ops.h"
#include "engine/tape.h"
#include "engine/tensor.h"

namespace attn::test {

inline Tensor random(const Shape& shape, uint64_t seed, float std = 1.0f, bool grad = true) {
  Rng rng(seed);
  Tensor t = Tensor::randn(shape, rng, std);
  if (grad) t.requires_grad_();
  return t;
}

inline Tensor random_uniform(const Shape& shape, uint64_t seed, float lo, float hi,
                             bool grad = true) {
  Rng rng(seed);
  Tensor t = Tensor::uniform(shape, rng, lo, hi);
  if (grad) t.requires_grad_();
  return t;
}

// max |a - b| over all elements, after checking the shapes agree.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::abs(static_cast<double>(a.data()[i]) - b.data()[i]);
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst;
}

inline double max_abs_diff(const Tensor& a, const std::vector<float>& b) {
  return max_abs_diff(a, Tensor::from(a.shape(), b));
}

#define CHECK_GRADCHECK(fn, inputs, ...)                                 \
  do {                                                                   \
    auto result_ = ::attn::gradcheck(fn, inputs, ##__VA_ARGS__);         \
    INFO(result_.report);                                                \
    CHECK(result_.ok);                                                   \
  } while (0)

}  // namespace attn::test
