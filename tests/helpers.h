// Shared test helpers: random tensors, closeness checks and a gradcheck assertion.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "testing/gradcheck.h"
#include "engine/bf16.h"
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

// sqrt(sum (got - want)^2 / sum want^2)
inline double relative_error(const Tensor& got, const Tensor& want) {
  REQUIRE(got.shape() == want.shape());
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    num += std::pow(got.data()[i] - want.data()[i], 2);
    den += std::pow(want.data()[i], 2);
  }
  return std::sqrt(num / den);
}

// An attention op's output and input gradients ({out, dq, dk, dv}, from `compute`) in bf16
// precision (what --precision bf16 sets around a step) against float32. Each product rounds
// its operands to 8 significant bits (engine/bf16.h): relative errors of the order of
// 2^-8 = 0.0039, a few roundings of either sign. The output must be within 1%, the gradients
// within 2%, and not equal (the bf16 path ran).
template <class Compute>
void check_bf16_tracks_f32(Compute compute) {
  const std::vector<Tensor> f32 = compute();
  std::vector<Tensor> f16;
  {
    PrecisionScope scope(Precision::kBF16);
    f16 = compute();
  }
  CHECK(relative_error(f16[0], f32[0]) < 0.01);
  for (size_t i = 1; i < f16.size(); ++i) CHECK(relative_error(f16[i], f32[i]) < 0.02);
  CHECK(relative_error(f16[0], f32[0]) > 0);
}

#define CHECK_GRADCHECK(fn, inputs, ...)                                 \
  do {                                                                   \
    auto result_ = ::attn::gradcheck(fn, inputs, ##__VA_ARGS__);         \
    INFO(result_.report);                                                \
    CHECK(result_.ok);                                                   \
  } while (0)

}  // namespace attn::test
