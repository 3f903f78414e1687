// Optimisers, schedule and clipping against their formulas.
#include <algorithm>
#include <cmath>

#include "nn/layers.h"
#include "nn/optim.h"
#include "nn/weight_average.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

// A module with one decayed matrix and one undecayed bias, and a fixed one.
struct Toy : Module {
  Tensor w = Tensor::from({2}, {1.0f, -2.0f});
  Tensor b = Tensor::from({1}, {0.5f});
  Tensor fixed = Tensor::from({1}, {3.0f});
  Toy() {
    register_parameter("w", w, true);
    register_parameter("b", b, false);
    register_parameter("fixed", fixed, false, false);
  }
};

}  // namespace

TEST_CASE("AdamW: one step matches the formula; no decay where marked; fixed stays") {
  Toy toy;
  ParameterArena arena(toy.parameters());
  AdamW opt(arena, {0.9f, 0.99f, 1e-8f, 0.1f});
  toy.w.grad_data()[0] = 0.5f, toy.w.grad_data()[1] = -1.0f, toy.b.grad_data()[0] = 2.0f;
  opt.step(0.01f);
  // After one step m_hat = g and v_hat = g^2, so the Adam part is lr * sign(g) (up to eps).
  CHECK(toy.w.data()[0] == doctest::Approx(1.0 - 0.01 * (1.0 + 0.1 * 1.0)).epsilon(1e-6));
  CHECK(toy.w.data()[1] == doctest::Approx(-2.0 - 0.01 * (-1.0 + 0.1 * -2.0)).epsilon(1e-6));
  CHECK(toy.b.data()[0] == doctest::Approx(0.5 - 0.01).epsilon(1e-6));  // no decay on b
  CHECK(toy.fixed.data()[0] == 3.0f);
  CHECK_FALSE(toy.fixed.has_grad());
}

TEST_CASE("SGD with momentum accumulates velocity and minimises a quadratic") {
  Toy toy;
  ParameterArena arena(toy.parameters());
  SGD opt(arena, 0.9f);
  for (int step = 0; step < 200; ++step) {
    arena.zero_grad();
    // loss = sum(w^2) + b^2: gradient 2w, 2b
    for (int i = 0; i < 2; ++i) toy.w.grad_data()[i] = 2 * toy.w.data()[i];
    toy.b.grad_data()[0] = 2 * toy.b.data()[0];
    opt.step(0.05f);
  }
  CHECK(std::abs(toy.w.data()[0]) < 1e-3);
  CHECK(std::abs(toy.w.data()[1]) < 1e-3);
  CHECK(std::abs(toy.b.data()[0]) < 1e-3);
}

TEST_CASE("warmup then cosine decay") {
  CHECK(learning_rate(0, 10, 100, 1.0f, 0.1f) == doctest::Approx(0.1));
  CHECK(learning_rate(9, 10, 100, 1.0f, 0.1f) == doctest::Approx(1.0));
  CHECK(learning_rate(10, 10, 100, 1.0f, 0.1f) == doctest::Approx(1.0));
  CHECK(learning_rate(55, 10, 100, 1.0f, 0.1f) == doctest::Approx(0.55));  // halfway
  CHECK(learning_rate(100, 10, 100, 1.0f, 0.1f) == doctest::Approx(0.1));
}

TEST_CASE("gradient clipping by global norm") {
  Toy toy;
  ParameterArena arena(toy.parameters());
  toy.w.grad_data()[0] = 3.0f, toy.w.grad_data()[1] = 0.0f, toy.b.grad_data()[0] = 4.0f;
  CHECK(clip_grad_norm(arena, 1.0) == doctest::Approx(5.0));
  CHECK(arena.grad_norm() == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(toy.w.grad().data()[0] == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(clip_grad_norm(arena, 10.0) == doctest::Approx(1.0).epsilon(1e-5));  // below: unchanged
  CHECK(toy.b.grad().data()[0] == doctest::Approx(0.8).epsilon(1e-5));
}

TEST_CASE("WeightAverage: follows the recurrence; the scope swaps the average in and back") {
  Toy toy;
  ParameterArena arena(toy.parameters());
  WeightAverage average(arena, 0.5f);
  // Reference: avg_0 = theta_0, then avg_n = d_n avg + (1 - d_n) theta_n with
  // d_n = min(0.5, (1 + n) / (10 + n)) = 0.5 here once n >= 8, (1+n)/(10+n) before.
  double ref = 1.0;  // w[0]
  for (int n = 1; n <= 12; ++n) {
    toy.w.data()[0] = static_cast<float>(n);
    average.update();
    const double d = std::min(0.5, (1.0 + n) / (10.0 + n));
    ref = d * ref + (1 - d) * n;
  }
  CHECK(average.updates() == 12);
  CHECK(average.average()[arena.offset_of(0)] == doctest::Approx(ref).epsilon(1e-6));
  CHECK(average.average()[arena.offset_of(2)] == 3.0f);  // a fixed parameter stays
  {
    AveragedWeightsScope scope(&average);
    CHECK(toy.w.data()[0] == doctest::Approx(ref).epsilon(1e-6));
  }
  CHECK(toy.w.data()[0] == 12.0f);
  CHECK_THROWS_WITH_AS(WeightAverage(arena, 1.0f), doctest::Contains("decay must be in [0, 1)"),
                       std::invalid_argument);
}
