#include "engine/bf16.h"

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "engine/parallel.h"

namespace attn {
namespace {

bool hidden_by_environment() {
  const char* hide = std::getenv("ATTN_HIDE_BF16");
  return hide && *hide == '1';
}

// cpuid leaf 7: subleaf 1 EAX bit 5 is AVX512_BF16, subleaf 0 EDX bit 22 AMX-BF16. Both
// also need the OS to save the wide registers (XCR0: AVX-512 state bits 5-7; AMX tile state
// bits 17-18), which a kernel that supports them does.
bool cpuid_bit(unsigned subleaf, int reg, int bit) {
  unsigned r[4] = {0, 0, 0, 0};
  if (!__get_cpuid_count(7, subleaf, &r[0], &r[1], &r[2], &r[3])) return false;
  return (r[reg] >> bit) & 1u;
}

uint64_t xcr0() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u)) return 0;  // OSXSAVE
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

thread_local Precision current_precision = Precision::kF32;

struct RegisteredBlock {
  const float* values;
  int64_t n;
  const bf16* copy;
};
std::vector<RegisteredBlock> registered;  // registered and read from the main thread

// bf16 where the CPU lacks it: std::runtime_error naming what is missing.
void refuse_unsupported(Precision p) {
  if (p == Precision::kBF16)
    if (const std::string why = bf16_unsupported_reason(); !why.empty()) throw std::runtime_error(why);
}

}  // namespace

namespace {

// AVX512_BF16's vcvtneps2bf16: 16 floats rounded to nearest even by one instruction, 1.6x
// faster than the bit arithmetic of to_bf16(float) on the same data. Compiled for that
// instruction set whatever -march says, and called only where cpuid reports it.
__attribute__((target("avx512f,avx512bf16"))) void convert_native(const float* x, bf16* out,
                                                                   int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    std::memcpy(out + i, &h, sizeof h);
  }
  for (; i < n; ++i) out[i] = to_bf16(x[i]);
}

void convert_portable(const float* x, bf16* out, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = to_bf16(x[i]);
}

const bool native_conversion = cpu_has_avx512_bf16();

}  // namespace

void to_bf16_serial(const float* x, bf16* out, int64_t n) {
  if (native_conversion) convert_native(x, out, n);
  else convert_portable(x, out, n);
}

void to_bf16(const float* x, bf16* out, int64_t n) {
  constexpr int64_t kBlock = 1 << 14;  // floats per task: 64 KiB in, 32 KiB out
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i += kBlock) to_bf16_serial(x + i, out + i, std::min(kBlock, n - i));
}

Bf16Buffer::Bf16Buffer(int64_t n)
    : storage_(std::make_shared<Storage>(static_cast<size_t>((n + 1) / 2))), n_(n) {}

Bf16Buffer Bf16Buffer::of(const float* x, int64_t n) {
  Bf16Buffer b(n);
  to_bf16(x, b.data(), n);
  return b;
}

bool cpu_has_avx512_bf16() {
  if (hidden_by_environment()) return false;
  return cpuid_bit(1, 0, 5) && (xcr0() & 0xe6) == 0xe6;
}

bool cpu_has_amx_bf16() {
  if (hidden_by_environment()) return false;
  return cpuid_bit(0, 3, 22) && (xcr0() & 0x60000) == 0x60000;
}

std::string bf16_unsupported_reason() {
  if (cpu_has_avx512_bf16() || cpu_has_amx_bf16()) return "";
  return std::string("--precision bf16 needs a CPU with AVX512_BF16 or AMX-BF16 (AMD Zen 4 "
                     "or newer, Intel Cooper Lake / Sapphire Rapids or newer); this one has ") +
         (hidden_by_environment() ? "them hidden by ATTN_HIDE_BF16=1"
                                  : "neither (oneDNN would emulate bf16 slowly or not at all)") +
         ". Train in fp32 (the default) instead";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32" || name == "f32") return Precision::kF32;
  if (name == "bf16") return Precision::kBF16;
  throw std::invalid_argument("--precision must be fp32 or bf16, got '" + name + "'");
}

Precision checked_precision(const std::string& name) {
  const Precision p = parse_precision(name);
  refuse_unsupported(p);
  return p;
}

const char* precision_name(Precision p) { return p == Precision::kBF16 ? "bf16" : "fp32"; }

void set_precision(Precision p) {
  refuse_unsupported(p);
  current_precision = p;
}

Precision precision() { return current_precision; }

void register_bf16_weights(const float* values, int64_t n, const bf16* copy) {
  unregister_bf16_weights(values);
  registered.push_back({values, n, copy});
}

void unregister_bf16_weights(const float* values) {
  registered.erase(std::remove_if(registered.begin(), registered.end(),
                                  [&](const RegisteredBlock& b) { return b.values == values; }),
                   registered.end());
}

const bf16* registered_bf16_weights(const float* p, int64_t n) {
  for (const RegisteredBlock& b : registered)
    if (p >= b.values && p + n <= b.values + b.n) return b.copy + (p - b.values);
  return nullptr;
}

}  // namespace attn
