#include "engine/rng.h"

#include <cmath>

namespace attn {

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& word : s_) {
    x += 0x9E3779B97F4A7C15ull;
    word = splitmix64(x);
  }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return (next_u64() >> 40) * (1.0f / 16777216.0f); }

float Rng::uniform(float low, float high) { return low + (high - low) * uniform(); }

float Rng::normal() {
  // Box-Muller; u1 is kept away from 0 so log() stays finite.
  const double u1 = ((next_u64() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  const double u2 = (next_u64() >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

void Rng::jump() {
  // The published jump polynomial of xoshiro256 (Blackman and Vigna), as 4 words.
  static constexpr uint64_t kJump[] = {0x180ec6d33cfd0aba, 0xd5a61266f0c9392c,
                                       0xa9582618e03fc9aa, 0x39abdc4529b1661c};
  std::array<uint64_t, 4> sum{};
  for (uint64_t word : kJump)
    for (int bit = 0; bit < 64; ++bit) {
      if (word & (uint64_t{1} << bit))
        for (int i = 0; i < 4; ++i) sum[i] ^= s_[i];
      next_u64();
    }
  s_ = sum;
}

uint64_t Rng::below(uint64_t n) { return n == 0 ? 0 : next_u64() % n; }

}  // namespace attn
