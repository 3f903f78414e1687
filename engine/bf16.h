// bfloat16 mixed precision.
//
// bf16 keeps float32's 8-bit exponent and the top 7 bits of its mantissa: the same range,
// 8 significant bits, so rounding to nearest even is off by at most 2^-8 relative (half a
// unit in the last place). A product of two rounded inputs is then off by at most about
// 2 x 2^-8 = 2^-7 relative; oneDNN's bf16 matmul accumulates the products in float32, so a
// dot product's error is at most about 2^-7 x sum_k |a_k b_k| (typically far less: the
// roundings are of either sign), the bound tests/engine/test_bf16.cpp checks.
//
// With --precision bf16 the Linear layers (nearly all of a transformer's matrix products)
// multiply bf16 copies of their inputs into float32 results: X is cast once in the forward
// pass (and that bf16 copy is what the backward pass keeps: half the memory), dY once in the
// backward pass, and the weights once per optimizer step (ParameterArena::refresh_bf16, found
// here by address). Everything else stays float32: master weights, gradients, AdamW moments,
// layer norm, softmax and its statistics, attention kernels, the loss and every reduction.
//
// The CPU must multiply bf16 natively (oneDNN 2.6 does on AVX512_BF16, e.g. AMD Zen 4/5 and
// Intel Cooper Lake and newer, and on AMX): elsewhere (AVX2 laptops) asking for bf16 is
// refused with a message naming the missing instruction set, never a slow emulation.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "engine/tensor.h"

namespace attn {

using bf16 = uint16_t;

// Round to nearest even; NaN stays a (quiet) NaN, infinities stay infinite.
inline bf16 to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<bf16>(bits >> 16);
}
inline float from_bf16(bf16 h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
// out[i] = to_bf16(x[i]) for i < n, on every core. Where the CPU has AVX512_BF16 its
// conversion instruction does it: the same bits for every float32 number except denormals
// (below 1.2e-38 in magnitude), which it flushes to zero.
void to_bf16(const float* x, bf16* out, int64_t n);
// The same on the calling thread alone (inside a kernel's own parallel loop).
void to_bf16_serial(const float* x, bf16* out, int64_t n);

// bf16 values in the caching allocator's storage.
class Bf16Buffer {
 public:
  Bf16Buffer() = default;
  explicit Bf16Buffer(int64_t n);
  // A new buffer holding x rounded to bf16.
  static Bf16Buffer of(const float* x, int64_t n);
  bf16* data() { return reinterpret_cast<bf16*>(storage_->data); }
  const bf16* data() const { return reinterpret_cast<const bf16*>(storage_->data); }
  int64_t size() const { return n_; }
  bool defined() const { return storage_ != nullptr; }

 private:
  std::shared_ptr<Storage> storage_;
  int64_t n_ = 0;
};

// What this CPU offers (cpuid). The environment variable ATTN_HIDE_BF16=1 hides both, so the
// refusal can be tested on any machine.
bool cpu_has_avx512_bf16();
bool cpu_has_amx_bf16();
// Why bf16 products cannot run natively here ("" when they can).
std::string bf16_unsupported_reason();

enum class Precision { kF32, kBF16 };
Precision parse_precision(const std::string& name);  // "fp32" or "bf16"; throws otherwise
// parse_precision, refusing bf16 (std::runtime_error, bf16_unsupported_reason) where the CPU
// lacks it: for checking options before a run starts.
Precision checked_precision(const std::string& name);
const char* precision_name(Precision p);
// The precision of the Linear layers' products in this thread (kF32 unless set). kBF16 is
// refused (std::runtime_error with bf16_unsupported_reason()) on a CPU without bf16.
void set_precision(Precision p);
Precision precision();

// Sets the precision while alive, restoring the previous one after.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p) : previous_(precision()) { set_precision(p); }
  ~PrecisionScope() { set_precision(previous_); }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision previous_;
};

// The bf16 copy of a block of weights (a model's parameter arena): registered by the block's
// owner after each change of the weights, and found by the Linear layers by address.
void register_bf16_weights(const float* values, int64_t n, const bf16* copy);
void unregister_bf16_weights(const float* values);
// The bf16 copy of [p, p + n) when it lies inside a registered block, else nullptr.
const bf16* registered_bf16_weights(const float* p, int64_t n);

}  // namespace attn
