// bf16 mixed precision (engine/bf16.h): rounding, the bf16 matmul and the Linear op against
// float32 within bf16's error, the registered weight copy, and the refusal on CPUs without
// bf16 (simulated with ATTN_HIDE_BF16=1). Products that need bf16 hardware skip elsewhere,
// saying so.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "engine/bf16.h"
#include "engine/gemm.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

// True (and a message) when this CPU cannot run bf16 products.
bool skip_without_bf16() {
  const std::string why = bf16_unsupported_reason();
  if (!why.empty()) MESSAGE("skipped: " << why);
  return !why.empty();
}

// The largest |got - want| / (2^-7 sum_k |a_ik b_kj|) over C: bf16's error bound in units
// (engine/bf16.h); under 1 means every entry is within it.
double error_in_bf16_units(const std::vector<float>& got, const std::vector<float>& want,
                           const std::vector<double>& magnitude) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(got[i] - want[i]) / (std::ldexp(magnitude[i], -7) + 1e-30));
  return worst;
}

}  // namespace

TEST_CASE("bf16 rounds to nearest even and keeps NaN and infinity") {
  CHECK(from_bf16(to_bf16(1.0f)) == 1.0f);
  CHECK(from_bf16(to_bf16(-0.15625f)) == -0.15625f);  // exactly representable
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  CHECK(from_bf16(to_bf16(1.0f + std::ldexp(1.0f, -8))) == 1.0f);
  CHECK(from_bf16(to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))) == 1.0f + std::ldexp(1.0f, -6));
  CHECK(std::isnan(from_bf16(to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(from_bf16(to_bf16(std::numeric_limits<float>::infinity())) ==
        std::numeric_limits<float>::infinity());
  Rng rng(5);
  std::vector<float> x(10000);
  for (auto& v : x) v = rng.normal() * std::exp(rng.uniform(-20, 20));
  std::vector<bf16> h(x.size());
  to_bf16(x.data(), h.data(), static_cast<int64_t>(x.size()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    CHECK(h[i] == to_bf16(x[i]));  // the parallel cast is the scalar one
    worst = std::max(worst, static_cast<double>(std::abs(from_bf16(h[i]) - x[i]) / std::abs(x[i])));
  }
  CHECK(worst <= std::ldexp(1.0, -8));  // half a unit in the 8th significant bit
  CHECK(worst > std::ldexp(1.0, -10));  // and it did round
}

TEST_CASE("bf16 matmul agrees with float32 within bf16's error, across tile edges") {
  if (skip_without_bf16()) return;
  struct Case { int64_t M, N, K; bool ta, tb; };
  for (const Case c : {Case{67, 131, 259, false, false}, Case{64, 64, 64, true, false},
                       Case{33, 257, 100, false, true}, Case{300, 17, 513, true, true}}) {
    Rng rng(c.M + c.N);
    std::vector<float> a(c.M * c.K), b(c.K * c.N), want(c.M * c.N), got(c.M * c.N);
    for (auto& v : a) v = rng.normal();
    for (auto& v : b) v = rng.normal();
    const GemmShape shape = packed_gemm(c.M, c.N, c.K, c.ta, c.tb, false);
    gemm(shape, a.data(), b.data(), want.data());
    const Bf16Buffer a16 = Bf16Buffer::of(a.data(), c.M * c.K), b16 = Bf16Buffer::of(b.data(), c.K * c.N);
    gemm_bf16(shape, a16.data(), b16.data(), got.data());
    std::vector<double> magnitude(c.M * c.N, 0.0);
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j)
        for (int64_t k = 0; k < c.K; ++k) {
          const float x = c.ta ? a[k * c.M + i] : a[i * c.K + k];
          const float y = c.tb ? b[j * c.K + k] : b[k * c.N + j];
          magnitude[i * c.N + j] += std::abs(static_cast<double>(x) * y);
        }
    INFO("M=" << c.M << " N=" << c.N << " K=" << c.K << " ta=" << c.ta << " tb=" << c.tb);
    const double units = error_in_bf16_units(got, want, magnitude);
    CHECK(units < 1.0);
    CHECK(units > 0.0);  // it really ran in bf16
  }
}

TEST_CASE("Linear in bf16: output and gradients track float32") {
  if (skip_without_bf16()) return;
  const Tensor x = random({5, 37, 96}, 1), w = random({96, 130}, 2, 0.1f), b = random({130}, 3);
  auto run = [&](Precision p, std::vector<Tensor>& grads) {
    PrecisionScope scope(p);
    for (Tensor t : {x, w, b}) t.zero_grad();
    Tensor y = linear(x, w, b);
    backward(sum(mul(y, y)));
    grads = {x.grad().clone(), w.grad().clone(), b.grad().clone()};
    return y;
  };
  std::vector<Tensor> g32, g16;
  const Tensor y32 = run(Precision::kF32, g32), y16 = run(Precision::kBF16, g16);
  auto relative = [](const Tensor& got, const Tensor& want) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
      num += std::pow(got.data()[i] - want.data()[i], 2);
      den += std::pow(want.data()[i], 2);
    }
    return std::sqrt(num / den);
  };
  // Relative (Frobenius) errors of the order of 2^-8 = 0.0039: a few roundings of either sign.
  CHECK(relative(y16, y32) < 0.01);
  for (int i = 0; i < 3; ++i) CHECK(relative(g16[i], g32[i]) < 0.02);
  CHECK(relative(y16, y32) > 0);
}

TEST_CASE("the registered bf16 copy of the weights is what Linear multiplies by") {
  if (skip_without_bf16()) return;
  std::vector<float> block(96 * 130);
  Rng rng(9);
  for (auto& v : block) v = rng.normal() * 0.1f;
  std::vector<bf16> copy(block.size());
  to_bf16(block.data(), copy.data(), static_cast<int64_t>(block.size()));
  CHECK(registered_bf16_weights(block.data(), 10) == nullptr);
  register_bf16_weights(block.data(), static_cast<int64_t>(block.size()), copy.data());
  CHECK(registered_bf16_weights(block.data() + 96, 96) == copy.data() + 96);
  CHECK(registered_bf16_weights(block.data() + 1, static_cast<int64_t>(block.size())) == nullptr);
  unregister_bf16_weights(block.data());
  CHECK(registered_bf16_weights(block.data(), 10) == nullptr);
}

TEST_CASE("bf16 is refused, naming the instruction set, on a CPU without it") {
  setenv("ATTN_HIDE_BF16", "1", 1);
  CHECK_FALSE(cpu_has_avx512_bf16());
  CHECK_FALSE(cpu_has_amx_bf16());
  std::string message;
  try {
    set_precision(Precision::kBF16);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  unsetenv("ATTN_HIDE_BF16");
  CHECK(message.find("AVX512_BF16") != std::string::npos);
  CHECK(precision() == Precision::kF32);  // unchanged
  CHECK_THROWS_AS(parse_precision("fp16"), std::invalid_argument);
  CHECK(parse_precision("bf16") == Precision::kBF16);
}

TEST_CASE("the array conversion gives the scalar rounding's bits (native instruction or not)") {
  // Normals of every size, exact ties (round to even), infinities and NaN; the native
  // instruction (AVX512_BF16) differs only on denormals, which it flushes to zero.
  std::vector<float> x;
  Rng rng(4);
  for (int i = 0; i < 5000; ++i) x.push_back(rng.normal() * std::ldexp(1.0f, static_cast<int>(rng.below(200)) - 100));
  for (float tie : {1.00390625f, 1.01171875f, -3.0078125f}) x.push_back(tie);  // halfway cases
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-std::numeric_limits<float>::infinity());
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  x.push_back(std::numeric_limits<float>::max());
  std::vector<bf16> array(x.size()), serial(x.size());
  to_bf16(x.data(), array.data(), static_cast<int64_t>(x.size()));
  to_bf16_serial(x.data(), serial.data(), static_cast<int64_t>(x.size()));
  int differences = 0;
  for (size_t i = 0; i < x.size(); ++i)
    differences += array[i] != to_bf16(x[i]) || serial[i] != to_bf16(x[i]);
  CHECK(differences == 0);
  CHECK(from_bf16(array[x.size() - 4]) == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(from_bf16(array[x.size() - 2])));
}
