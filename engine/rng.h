// Seeded random numbers: xoshiro256** (Blackman and Vigna) seeded through splitmix64.
// The whole state is four words, so a checkpoint can save and restore it exactly.
#pragma once
#include <array>
#include <cstdint>

namespace attn {

class Rng {
 public:
  explicit Rng(uint64_t seed = 1337);
  uint64_t next_u64();
  float uniform();                        // [0, 1)
  float uniform(float low, float high);   // [low, high)
  float normal();                         // mean 0, std 1 (Box-Muller)
  uint64_t below(uint64_t n);             // integer in [0, n)
  // Advances the state by 2^128 draws (xoshiro256's jump polynomial): streams that start
  // 0, 1, 2, ... jumps apart never overlap. Data-parallel rank r draws its dropout masks from
  // the run's stream jumped r times; a jump commutes with drawing, so any rank's stream can
  // be rebuilt from rank 0's saved state.
  void jump();
  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; }

 private:
  std::array<uint64_t, 4> s_;
};

// A counter-based hash: the same (seed, index) always gives the same 64 random bits, in
// any order and on any thread. Dropout masks use it so the backward pass can regenerate
// the mask instead of storing it.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
inline float hash_uniform(uint64_t seed, uint64_t index) {
  return (splitmix64(seed ^ splitmix64(index)) >> 40) * (1.0f / 16777216.0f);
}

}  // namespace attn
