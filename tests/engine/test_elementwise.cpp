// Elementwise ops: forward against std:: math, gradient by finite differences, broadcasting.
#include <functional>

#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

using Unary = Tensor (*)(const Tensor&);

// Checks y = op(x) against ref elementwise, then the gradient.
void check_unary(Unary op, std::function<double(double)> ref, Tensor x, double tol = 2e-6) {
  Tensor y = op(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double want = ref(x.data()[i]);
    CHECK(y.data()[i] == doctest::Approx(want).epsilon(tol).scale(1.0));
  }
  clear_tape();
  CHECK_GRADCHECK([op](const std::vector<Tensor>& in) { return op(in[0]); }, {x});
}

double gelu_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

}  // namespace

TEST_CASE("unary ops: reference values and gradients") {
  // Inputs kept away from kinks (relu, elu at 0) so central differences are valid.
  Tensor x = random_uniform({3, 7}, 1, 0.1f, 2.0f);
  for (int i = 0; i < x.numel(); i += 2) x.data()[i] *= -1;  // both signs, none near 0
  Tensor positive = random_uniform({3, 7}, 2, 0.5f, 3.0f);

  check_unary(neg, [](double v) { return -v; }, x);
  check_unary(exp, [](double v) { return std::exp(v); }, x);
  check_unary(log, [](double v) { return std::log(v); }, positive);
  check_unary(sqrt, [](double v) { return std::sqrt(v); }, positive);
  check_unary(relu, [](double v) { return v > 0 ? v : 0; }, x);
  check_unary(gelu, gelu_ref, x);
  check_unary(elu, [](double v) { return v > 0 ? v : std::exp(v) - 1; }, x);
  check_unary(sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }, x);
  check_unary(tanh, [](double v) { return std::tanh(v); }, x);
  Tensor y = scale(x, -2.5f);
  for (int64_t i = 0; i < x.numel(); ++i) CHECK(y.data()[i] == -2.5f * x.data()[i]);
  clear_tape();
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return scale(in[0], -2.5f); }, {x});
}

TEST_CASE("fast exp is accurate over the float range and saturates cleanly") {
  Tensor x = Tensor::empty({2001});
  for (int i = 0; i <= 2000; ++i) x.data()[i] = -87.0f + 175.0f * i / 2000.0f;
  Tensor y = exp(x);
  for (int i = 0; i <= 2000; ++i) {
    const double want = std::exp(static_cast<double>(x.data()[i]));
    CHECK(std::abs(y.data()[i] - want) <= 3e-7 * want);
  }
  Tensor edge = exp(Tensor::from({4}, {-1000.0f, 1000.0f, -INFINITY, NAN}));
  CHECK(edge.data()[0] == 0.0f);
  CHECK(std::isinf(edge.data()[1]));
  CHECK(edge.data()[2] == 0.0f);
  CHECK(std::isnan(edge.data()[3]));
}

TEST_CASE("binary ops: same shape, trailing broadcast, scalar, either side") {
  struct Case {
    const char* name;
    Tensor (*op)(const Tensor&, const Tensor&);
    double (*ref)(double, double);
  };
  const Case cases[] = {
      {"add", add, [](double a, double b) { return a + b; }},
      {"sub", sub, [](double a, double b) { return a - b; }},
      {"mul", mul, [](double a, double b) { return a * b; }},
      {"div", div, [](double a, double b) { return a / b; }},
  };
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 4}}, {{4}, {2, 3, 4}},
      {{2, 3, 4}, {}},        {{}, {3, 4}},     {{2, 3, 4}, {1, 4}}};
  for (const Case& c : cases)
    for (const auto& [sa, sb] : shapes) {
      CAPTURE(c.name);
      CAPTURE(to_string(sa));
      CAPTURE(to_string(sb));
      Tensor a = random_uniform(sa, 3, 0.5f, 2.0f);
      Tensor b = random_uniform(sb, 4, 0.5f, 2.0f);
      Tensor y = c.op(a, b);
      const int64_t n = y.numel();
      CHECK(n == std::max(a.numel(), b.numel()));
      for (int64_t i = 0; i < n; ++i) {
        const double want = c.ref(a.data()[i % a.numel()], b.data()[i % b.numel()]);
        CHECK(y.data()[i] == doctest::Approx(want).epsilon(1e-6));
      }
      clear_tape();
      auto op = c.op;
      CHECK_GRADCHECK([op](const std::vector<Tensor>& in) { return op(in[0], in[1]); }, {a, b});
    }
}

TEST_CASE("dropout: seeded mask, scaling, matching gradient, identity at p = 0") {
  Tensor x = random({64, 64}, 5);
  Tensor y1 = dropout(x, 0.25f, 99), y2 = dropout(x, 0.25f, 99), y3 = dropout(x, 0.25f, 100);
  CHECK(max_abs_diff(y1, y2) == 0);
  CHECK(max_abs_diff(y1, y3) > 0);
  int64_t zeros = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (y1.data()[i] == 0.0f) ++zeros;
    else CHECK(y1.data()[i] == doctest::Approx(x.data()[i] / 0.75f));
  }
  CHECK(std::abs(zeros / 4096.0 - 0.25) < 0.03);
  clear_tape();
  Tensor small = random({4, 5}, 6);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return dropout(in[0], 0.3f, 7); }, {small});
  CHECK(dropout(x, 0.0f, 1).same_as(x));
  CHECK_THROWS_WITH(dropout(x, 1.0f, 1), doctest::Contains("p must be in [0, 1)"));
  clear_tape();
}
