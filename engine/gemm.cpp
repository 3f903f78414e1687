#include "engine/gemm.h"

#include "engine/gemm_paths.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <stdexcept>
#include <string>
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
  GemmPathPolicy policy;  // tests and benchmarks run one shape on each path
  // Inside a parallel loop a shape always runs oneDNN's first choice (chosen()); outside, its
  // tuned path. Part of the key, so that a thread that has seen the shape in both places
  // takes the same path as every other thread in each.
  bool in_parallel;
  bool operator==(const Key& o) const {
    for (int i = 0; i < 12; ++i)
      if (v[i] != o.v[i]) return false;
    return ta == o.ta && tb == o.tb && acc == o.acc && bf16 == o.bf16 && alpha == o.alpha &&
           policy == o.policy && in_parallel == o.in_parallel;
  }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = 14695981039346656037ull;
    for (int64_t x : k.v) h = (h ^ static_cast<size_t>(x)) * 1099511628211ull;
    return h ^ (k.ta * 2 + k.tb * 4 + k.acc * 8 + k.bf16 * 16 + k.in_parallel * 32 +
                static_cast<int>(k.policy) * 64);
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

// The operand descriptors and attributes of one product. bf16: A and B are bf16, C and the
// bias float32 (oneDNN accumulates in float32).
dnnl::matmul::desc matmul_desc(const GemmShape& s, bool with_bias, bool bf16) {
  const auto in_type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  const auto a = matrix_desc(s.batch, s.M, s.K, s.trans_a, s.lda, s.stride_a, in_type);
  const auto b = matrix_desc(s.batch, s.K, s.N, s.trans_b, s.ldb, s.stride_b, in_type);
  const auto c = matrix_desc(s.batch, s.M, s.N, false, s.ldc, s.stride_c);
  const memory::desc bias({1, 1, s.N}, memory::data_type::f32, memory::dims{s.N, s.N, 1});
  return with_bias ? dnnl::matmul::desc(a, b, bias, c) : dnnl::matmul::desc(a, b, c);
}

dnnl::primitive_attr matmul_attr(const GemmShape& s) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (s.alpha != 1.0f) attr.set_output_scales(0, {s.alpha});
  if (s.accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

// oneDNN's first choice (brgemm on AVX-512), or its gemm-driver implementation ("gemm:jit",
// the kernels of dnnl_sgemm) where it has one for this shape: engine/gemm_paths.h.
std::optional<dnnl::matmul::primitive_desc> path_desc(const GemmShape& s, bool with_bias,
                                                      bool bf16, GemmPath path) {
  // The iterator behind next_impl() refers to the desc and attributes: keep them alive.
  const dnnl::matmul::desc desc = matmul_desc(s, with_bias, bf16);
  const dnnl::primitive_attr attr = matmul_attr(s);
  dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
  if (path == GemmPath::kPrimitive) return pd;  // (a returned pd is never iterated again)
  do {
    if (std::string(pd.impl_info_str()).rfind("gemm:", 0) == 0) return pd;
  } while (pd.next_impl());
  return std::nullopt;
}

Primitive build(const dnnl::matmul::primitive_desc& pd, bool with_bias) {
  Primitive p;
  p.scratch_bytes = pd.scratchpad_desc().get_size();
  p.matmul = dnnl::matmul(pd);
  p.a = memory(pd.src_desc(), cpu_engine(), DNNL_MEMORY_NONE);
  p.b = memory(pd.weights_desc(), cpu_engine(), DNNL_MEMORY_NONE);
  p.c = memory(pd.dst_desc(), cpu_engine(), DNNL_MEMORY_NONE);
  p.args = {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}};
  if (with_bias) {
    p.bias = memory(pd.bias_desc(), cpu_engine(), DNNL_MEMORY_NONE);
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

void execute(Primitive& p, const void* A, const void* B, float* C, const float* bias) {
  ThreadState& ts = thread_state();
  if (ts.scratch.size() < p.scratch_bytes) ts.scratch.resize(p.scratch_bytes);
  p.a.set_data_handle(const_cast<void*>(A));
  p.b.set_data_handle(const_cast<void*>(B));
  p.c.set_data_handle(C);
  if (bias) p.bias.set_data_handle(const_cast<float*>(bias));
  if (p.scratch_bytes > 0) p.scratch.set_data_handle(ts.scratch.data());
  p.matmul.execute(ts.stream, p.args);
}

// "bf16,batch,M,N,K,trans_a,trans_b,lda,ldb,ldc,strides,bias,accumulate,alpha,threads".
std::string shape_key(const Key& k) {
  std::string out = k.bf16 ? "bf16" : "f32";
  for (int i = 0; i < 11; ++i) out += "," + std::to_string(k.v[i]);
  out += std::string(",") + (k.ta ? "T" : "N") + (k.tb ? "T" : "N") + (k.acc ? ",acc" : ",set");
  return out + ",alpha" + std::to_string(k.alpha) + ",threads" + std::to_string(k.v[11]);
}

// Elements an operand spans: `outer` rows of `inner` values `ld` apart, per batch entry.
int64_t extent(const GemmShape& s, int64_t outer, int64_t inner, int64_t ld, int64_t stride) {
  return (stride == 0 ? 0 : (s.batch - 1) * stride) + (outer - 1) * ld + inner;
}

// Zeroed, 64-byte aligned like the tensors' storage (alignment changes the kernels' speed);
// outside the caching allocator, so that tuning never shows in the peak-memory figures.
struct ScratchOperand {
  std::unique_ptr<char, decltype(&std::free)> bytes{nullptr, &std::free};
  explicit ScratchOperand(size_t n) {
    n = (n + 63) / 64 * 64;
    bytes.reset(static_cast<char*>(std::aligned_alloc(64, n)));
    if (!bytes) throw std::bad_alloc();
    std::memset(bytes.get(), 0, n);
  }
  char* data() const { return bytes.get(); }
};

// Both paths timed on scratch operands of the call's layout (the call's own C may be
// accumulated into, so it is never touched).
GemmPath timed_path(const GemmShape& s, bool with_bias, bool bf16, Primitive& first,
                    Primitive& driver) {
  const size_t elem = bf16 ? 2 : 4;
  const ScratchOperand a(elem * extent(s, s.trans_a ? s.K : s.M, s.trans_a ? s.M : s.K,
                                       s.lda, s.stride_a)),
      b(elem * extent(s, s.trans_b ? s.N : s.K, s.trans_b ? s.K : s.N, s.ldb, s.stride_b)),
      c(4 * extent(s, s.M, s.N, s.ldc, s.stride_c)), bias(4 * s.N);
  float* c_ptr = reinterpret_cast<float*>(c.data());
  const float* bias_ptr = with_bias ? reinterpret_cast<float*>(bias.data()) : nullptr;
  return faster_gemm_path([&] { execute(first, a.data(), b.data(), c_ptr, bias_ptr); },
                          [&] { execute(driver, a.data(), b.data(), c_ptr, bias_ptr); });
}

// The primitive for a shape seen for the first time. Small products (under ~30 us) and
// products issued from inside a parallel loop (one thread each: the attention kernels'
// tiles) keep oneDNN's first choice without timing.
Primitive chosen(const GemmShape& s, const Key& key, const float* bias) {
  const bool with_bias = bias != nullptr, bf16 = key.bf16;
  auto first = [&] {
    return build(*path_desc(s, with_bias, bf16, GemmPath::kPrimitive), with_bias);
  };
  const GemmPathPolicy policy = key.policy;
  if (policy == GemmPathPolicy::kPrimitive) return first();
  const bool large = 2.0 * s.batch * s.M * s.N * s.K >= 1e7;
  if (policy == GemmPathPolicy::kTune && (key.in_parallel || !large)) return first();
  const auto driver_desc = path_desc(s, with_bias, bf16, GemmPath::kGemm);
  if (!driver_desc) return first();  // no gemm-driver implementation for this shape and CPU
  if (policy == GemmPathPolicy::kGemm) return build(*driver_desc, with_bias);
  const std::string shape = shape_key(key);
  if (const auto known = known_gemm_path(shape))  // decided before: build only that one
    return *known == GemmPath::kGemm ? build(*driver_desc, with_bias) : first();
  Primitive primitive = first(), driver = build(*driver_desc, with_bias);
  const GemmPath path =
      remember_gemm_path(shape, timed_path(s, with_bias, bf16, primitive, driver));
  return path == GemmPath::kGemm ? driver : primitive;
}

// Zero or more products through one cached primitive; A and B are float or bf16 data.
void run_gemm(const GemmShape& shape, const void* A, const void* B, float* C, const float* bias,
              bool bf16, GemmPathPolicy policy) {
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
                s.trans_a, s.trans_b, s.accumulate, bf16, s.alpha, policy,
                omp_in_parallel() != 0};
  auto it = ts.primitives.find(key);
  if (it == ts.primitives.end()) it = ts.primitives.emplace(key, chosen(s, key, bias)).first;
  execute(it->second, A, B, C, bias);
}

}  // namespace

void gemm(const GemmShape& shape, const float* A, const float* B, float* C, const float* bias) {
  run_gemm(shape, A, B, C, bias, false, gemm_path_policy());
}

void gemm_bf16(const GemmShape& shape, const uint16_t* A, const uint16_t* B, float* C,
               const float* bias) {
  run_gemm(shape, A, B, C, bias, true, gemm_path_policy());
}

void gemm_on_path(GemmPathPolicy policy, const GemmShape& shape, const float* A, const float* B,
                  float* C, const float* bias) {
  run_gemm(shape, A, B, C, bias, false, policy);
}

void gemm_bf16_on_path(GemmPathPolicy policy, const GemmShape& shape, const uint16_t* A,
                       const uint16_t* B, float* C, const float* bias) {
  run_gemm(shape, A, B, C, bias, true, policy);
}

}  // namespace attn
