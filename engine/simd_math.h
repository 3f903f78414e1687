// exp that GCC vectorises inside `#pragma omp simd` loops (glibc's expf does not without
// -ffast-math). Range reduction x = n ln2 + r with |r| <= ln2/2, then a degree-6 polynomial
// for e^r and 2^n put straight into the exponent bits. Relative error below 2e-7 on the
// float range; inputs below -87.3 give 0, above 88.7 give +inf, NaN stays NaN.
#pragma once
#include <cstdint>
#include <cstring>

namespace attn {

#pragma omp declare simd notinbranch
inline float fast_exp(float x) {
  const float clamped = x < -87.33654f ? -87.33654f : (x > 88.0f ? 88.0f : x);
  const float n = __builtin_roundf(clamped * 1.44269504088896341f);
  // r = x - n ln2, with ln2 split in two for accuracy (Cody-Waite)
  float r = clamped - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float result = p * scale;
  result = x < -87.33654f ? 0.0f : result;
  result = x > 88.72283f ? __builtin_inff() : result;
  return x != x ? x : result;
}

}  // namespace attn
