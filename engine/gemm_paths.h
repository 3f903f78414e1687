// Which of oneDNN's matmul implementations computes each product shape.
//
// oneDNN 2.6 offers two fast implementations of the same matmul: its brgemm kernels (what a
// matmul primitive picks first on AVX-512) and its older gemm driver (the kernels behind
// dnnl_sgemm, and a bf16 gemm). Neither wins everywhere: on a Zen 5 core pair the gemm driver
// is 10-25% faster on most of a 6-layer width-384 model's products, and 1.7x slower on a
// 256^3 bf16 one. So engine/gemm.cpp times both on the first sight of each shape and keeps the
// faster ("tuning"), like FFTW's planner.
//
// The two give different bits for large K (they sum in different orders), and attn promises
// bit-identical reruns and resumes. So a decision is made once per machine and kept: in a
// cache file (one line per shape, `<machine> <shape> <path>`), read before the first decision
// and appended to after each new one (under a file lock; the first decision recorded for a
// shape wins). Two runs on one machine take the same path for every shape. The file is
// `$ATTN_CACHE_DIR/matmul_paths.txt`, else `$XDG_CACHE_HOME/attn/matmul_paths.txt`, else
// `~/.cache/attn/matmul_paths.txt`; delete it to tune again. ATTN_MATMUL_PATH=primitive or
// =gemm pins every shape to one path (nothing is timed or written); =tune is the default.
#pragma once
#include <functional>
#include <optional>
#include <string>

namespace attn {

enum class GemmPath { kPrimitive, kGemm };
enum class GemmPathPolicy { kTune, kPrimitive, kGemm };

const char* gemm_path_name(GemmPath path);

// ATTN_MATMUL_PATH's value ("" or tune, primitive, gemm); anything else is an error naming
// the variable and the values it takes.
GemmPathPolicy parse_gemm_path_policy(const std::string& value);

// The policy from ATTN_MATMUL_PATH (read once; unknown values are an error naming the
// variable), unless set_gemm_path_policy overrode it.
GemmPathPolicy gemm_path_policy();
void set_gemm_path_policy(std::optional<GemmPathPolicy> policy);  // nullopt: back to the env

// A shape's path from this process's table or the cache file; nullopt when never decided.
std::optional<GemmPath> known_gemm_path(const std::string& shape_key);

// Records a decision in the table and appends it to the cache file, unless another run
// recorded one for the shape first (runs tuning at once); returns the decision in force,
// which is the one to use. A cache that cannot be written only costs the next run its
// tuning: attn says so once, and goes on.
GemmPath remember_gemm_path(const std::string& shape_key, GemmPath path);

// Forgets the table (not the file), so that the next lookup reads the file again. For tests.
void forget_gemm_paths();

// The cache file's path, as described above.
std::string gemm_path_cache_file();

// Times `primitive` and `gemm` alternately (after one warm-up each) and returns the path
// whose fastest run is faster in two of three rounds (~0.1 s each); the gemm driver must win
// by 1% (a near-tie keeps the primitive: oneDNN's own first choice).
GemmPath faster_gemm_path(const std::function<void()>& primitive,
                          const std::function<void()>& gemm);

}  // namespace attn
