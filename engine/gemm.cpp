#include "engine/gemm.h"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace attn {
namespace {

using dnnl::memory;

// The shape with every default filled in.
GemmShape resolved(GemmShape s) {
  if (s.lda == 0) s.lda = s.trans_a ? s.M : s.K;
  if (s.ldb == 0) s.ldb = s.trans_b ? s.K : s.N;
  if (s.ldc == 0) s.ldc = s.N;
  if (s.stride_a < 0) s.stride_a = s.M * s.K;
  if (s.stride_b < 0) s.stride_b = s.K * s.N;
  if (s.stride_c < 0) s.stride_c = s.M * s.N;
  return s;
}

// A oneDNN primitive keeps the thread count it was created for (its OpenMP regions ask for
// that many threads), so the team size is part of the key: see engine/cpu_share.h.
struct Key {
  int64_t v[12];  // shape, strides, bias, and the OpenMP team size
  bool ta, tb, acc, bf16;
  float alpha;
  bool operator==(const Key& o) const {
    for (int i = 0; i < 12; ++i)
      if (v[i] != o.v[i]) return false;
    return ta == o.ta && tb == o.tb && acc == o.acc && bf16 == o.bf16 && alpha == o.alpha;
  }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = 14695981039346656037ull;
    for (int64_t x : k.v) h = (h ^ static_cast<size_t>(x)) * 1099511628211ull;
    return h ^ (k.ta * 2 + k.tb * 4 + k.acc * 8 + k.bf16 * 16);
  }
};

struct Primitive {
  dnnl::matmul matmul;
  memory a, b, c, bias, scratch;  // created once; each call only swaps in the data pointers
  std::unordered_map<int, memory> args;
  size_t scratch_bytes;
};

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Logical [batch, rows, cols] view of a row-major (possibly transposed) matrix.
memory::desc matrix_desc(int64_t batch, int64_t rows, int64_t cols, bool trans, int64_t ld,
                         int64_t batch_stride, memory::data_type type = memory::data_type::f32) {
  const memory::dims dims = {batch_stride == 0 ? 1 : batch, rows, cols};
  const memory::dims strides = trans ? memory::dims{batch_stride, 1, ld}
                                     : memory::dims{batch_stride, ld, 1};
  return memory::desc(dims, type, strides);
}

// bf16: A and B are bf16, C and the bias float32 (oneDNN accumulates in float32).
Primitive build(const GemmShape& s, bool with_bias, bool bf16) {
  Primitive p;
  const auto in_type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  const auto a = matrix_desc(s.batch, s.M, s.K, s.trans_a, s.lda, s.stride_a, in_type);
  const auto b = matrix_desc(s.batch, s.K, s.N, s.trans_b, s.ldb, s.stride_b, in_type);
  const auto c = matrix_desc(s.batch, s.M, s.N, false, s.ldc, s.stride_c);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
  if (s.accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  const memory::desc bias({1, 1, s.N}, memory::data_type::f32, memory::dims{s.N, s.N, 1});
  dnnl::matmul::desc desc = with_bias ? dnnl::matmul::desc(a, b, bias, c)
                                      : dnnl::matmul::desc(a, b, c);
  dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
  p.scratch_bytes = pd.scratchpad_desc().get_size();
  p.matmul = dnnl::matmul(pd);
  p.a = memory(a, cpu_engine(), DNNL_MEMORY_NONE);
  p.b = memory(b, cpu_engine(), DNNL_MEMORY_NONE);
  p.c = memory(c, cpu_engine(), DNNL_MEMORY_NONE);
  p.args = {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}};
  if (with_bias) {
    p.bias = memory(bias, cpu_engine(), DNNL_MEMORY_NONE);
    p.args[DNNL_ARG_BIAS] = p.bias;
  }
  if (p.scratch_bytes > 0) {
    p.scratch = memory(pd.scratchpad_desc(), cpu_engine(), DNNL_MEMORY_NONE);
    p.args[DNNL_ARG_SCRATCHPAD] = p.scratch;
  }
  return p;
}

struct ThreadState {
  std::unordered_map<Key, Primitive, KeyHash> primitives;
  std::vector<char> scratch;
  dnnl::stream stream{cpu_engine()};
};

ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

void check(const GemmShape& s) {
  if (s.batch < 1 || s.M < 0 || s.N < 0 || s.K < 0)
    throw std::invalid_argument("gemm: invalid sizes batch=" + std::to_string(s.batch) +
                                " M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) +
                                " K=" + std::to_string(s.K));
}

}  // namespace

namespace {

// Zero or more products through one cached primitive; A and B are float or bf16 data.
void run_gemm(const GemmShape& shape, const void* A, const void* B, float* C, const float* bias,
              bool bf16) {
  check(shape);
  const GemmShape s = resolved(shape);
  if (s.M == 0 || s.N == 0) return;
  if (s.K == 0) {  // empty sum: C = 0 (or unchanged when accumulating)
    if (!s.accumulate)
      for (int64_t b = 0; b < s.batch; ++b)
        for (int64_t i = 0; i < s.M; ++i)
          for (int64_t j = 0; j < s.N; ++j) C[b * s.stride_c + i * s.ldc + j] = 0.0f;
    return;
  }
  ThreadState& ts = thread_state();
  const Key key{{s.batch, s.M, s.N, s.K, s.lda, s.ldb, s.ldc, s.stride_a, s.stride_b,
                 s.stride_c, bias != nullptr, omp_get_max_threads()},
                s.trans_a, s.trans_b, s.accumulate, bf16, s.alpha};
  auto it = ts.primitives.find(key);
  if (it == ts.primitives.end())
    it = ts.primitives.emplace(key, build(s, bias != nullptr, bf16)).first;
  Primitive& p = it->second;
  if (ts.scratch.size() < p.scratch_bytes) ts.scratch.resize(p.scratch_bytes);

  p.a.set_data_handle(const_cast<void*>(A));
  p.b.set_data_handle(const_cast<void*>(B));
  p.c.set_data_handle(C);
  if (bias) p.bias.set_data_handle(const_cast<float*>(bias));
  if (p.scratch_bytes > 0) p.scratch.set_data_handle(ts.scratch.data());
  p.matmul.execute(ts.stream, p.args);
}

}  // namespace

void gemm(const GemmShape& shape, const float* A, const float* B, float* C, const float* bias) {
  run_gemm(shape, A, B, C, bias, false);
}

void gemm_bf16(const GemmShape& shape, const uint16_t* A, const uint16_t* B, float* C,
               const float* bias) {
  run_gemm(shape, A, B, C, bias, true);
}

}  // namespace attn
