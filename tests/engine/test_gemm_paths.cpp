// The per-shape choice between oneDNN's two matmul implementations (engine/gemm_paths.h):
// both are correct in every layout, each is deterministic, and the cache file (not timing
// noise) decides which one a later thread or process takes.
#include <omp.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/bf16.h"
#include "engine/gemm.h"
#include "testing/matmul_peers.h"
#include "tests/helpers.h"

using namespace attn;
using namespace attn::test;

namespace {

constexpr GemmPathPolicy kPaths[] = {GemmPathPolicy::kPrimitive, GemmPathPolicy::kGemm,
                                     GemmPathPolicy::kTune};

// A shape large enough to be tuned (2 M N K batch >= 1e7), with sub-block leading dims.
GemmShape big_shape(bool ta, bool tb, bool acc) {
  GemmShape s;
  s.batch = 2, s.M = 70, s.N = 300, s.K = 260, s.trans_a = ta, s.trans_b = tb;
  s.lda = 310, s.ldb = 310, s.ldc = 305;  // every operand padded: rows of 310 (305) floats
  s.stride_a = 310 * 300, s.stride_b = 310 * 300, s.stride_c = 70 * 305;
  s.accumulate = acc, s.alpha = acc ? 0.5f : 1.0f;
  return s;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0;
}

// A cache directory of its own for this test process.
struct CacheDir {
  std::string dir = "/tmp/attn_test_gemm_paths_" + std::to_string(::getpid());
  std::string before;  // ATTN_CACHE_DIR as the test runner set it, restored afterwards
  bool had_before = false;
  explicit CacheDir(const std::string& where = "") {
    if (!where.empty()) dir = where;
    if (const char* b = std::getenv("ATTN_CACHE_DIR")) before = b, had_before = true;
    std::filesystem::remove_all(dir);
    ::setenv("ATTN_CACHE_DIR", dir.c_str(), 1);
    forget_gemm_paths();
  }
  ~CacheDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (had_before) ::setenv("ATTN_CACHE_DIR", before.c_str(), 1);
    else ::unsetenv("ATTN_CACHE_DIR");
    forget_gemm_paths();
  }
  std::string file() const { return dir + "/matmul_paths.txt"; }
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("both oneDNN paths equal the reference: transposes, accumulate, padding, bias") {
  CacheDir cache;
  Tensor A = random({2, 300, 310}, 1, 1, false), B = random({2, 300, 310}, 2, 1, false);
  Tensor bias = random({300}, 3, 1, false);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (bool acc : {false, true})
        for (GemmPathPolicy path : kPaths) {
          const GemmShape s = big_shape(ta, tb, acc);
          Tensor C1 = random({2, 70, 305}, 4, 1, false), C2 = C1.clone();
          const float* b = acc ? nullptr : bias.data();  // bias with set, none with accumulate
          gemm_on_path(path, s, A.data(), B.data(), C1.data(), b);
          gemm_reference(s, A.data(), B.data(), C2.data(), b);
          CAPTURE(ta);
          CAPTURE(tb);
          CAPTURE(acc);
          CAPTURE(static_cast<int>(path));
          CHECK(max_abs_diff(C1, C2) < 2e-4);  // sums of 260 products of N(0, 1) values
        }
}

TEST_CASE("the bf16 paths equal a float64 product of the rounded inputs") {
  if (const std::string why = bf16_unsupported_reason(); !why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  CacheDir cache;
  const int64_t M = 200, N = 300, K = 256;  // 2 M N K = 3.1e7: tuned
  Tensor A = random({M, K}, 5, 1, false), B = random({N, K}, 6, 1, false);
  const Bf16Buffer A16 = Bf16Buffer::of(A.data(), M * K), B16 = Bf16Buffer::of(B.data(), N * K);
  for (GemmPathPolicy path : kPaths) {
    Tensor C = Tensor::zeros({M, N});
    gemm_bf16_on_path(path, packed_gemm(M, N, K, false, true, false), A16.data(), B16.data(),
                      C.data());
    double worst = 0;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double exact = 0;
        for (int64_t k = 0; k < K; ++k)
          exact += double(from_bf16(A16.data()[i * K + k])) * from_bf16(B16.data()[j * K + k]);
        worst = std::max(worst, std::abs(exact - C.data()[i * N + j]));
      }
    CAPTURE(static_cast<int>(path));
    CHECK(worst < 1e-3);  // float32 accumulation of exact bf16 products
  }
}

TEST_CASE("each path gives the same bits every call") {
  CacheDir cache;
  const int64_t n = 512;
  Tensor A = random({n, n}, 7, 1, false), B = random({n, n}, 8, 1, false);
  for (GemmPathPolicy path : kPaths) {
    Tensor C1 = Tensor::zeros({n, n}), C2 = Tensor::zeros({n, n});
    gemm_on_path(path, packed_gemm(n, n, n, false, false, false), A.data(), B.data(), C1.data());
    gemm_on_path(path, packed_gemm(n, n, n, false, false, false), A.data(), B.data(), C2.data());
    CHECK(same_bits(C1, C2));
  }
}

TEST_CASE("the cache file, not the timing, decides a later thread's path") {
  CacheDir cache;
  const int64_t n = 512, K = 640;  // a shape no other test case has run in this process
  const GemmShape s = packed_gemm(n, n, K, false, false, false);
  Tensor A = random({n, K}, 9, 1, false), B = random({K, n}, 10, 1, false);
  Tensor by_primitive = Tensor::zeros({n, n}), by_gemm = Tensor::zeros({n, n});
  gemm_on_path(GemmPathPolicy::kPrimitive, s, A.data(), B.data(), by_primitive.data());
  gemm_on_path(GemmPathPolicy::kGemm, s, A.data(), B.data(), by_gemm.data());
  CHECK_FALSE(std::filesystem::exists(cache.file()));  // pinned paths time and write nothing
  if (same_bits(by_primitive, by_gemm)) {
    MESSAGE("skipped: the two paths give the same bits here, so they cannot be told apart");
    return;
  }
  Tensor tuned = Tensor::zeros({n, n});
  gemm(s, A.data(), B.data(), tuned.data());  // first sight: timed, one line appended
  std::vector<std::string> lines = lines_of(cache.file());
  REQUIRE(lines.size() == 1);
  const bool chose_gemm = lines[0].size() > 5 && lines[0].substr(lines[0].size() - 5) == " gemm";
  CHECK(same_bits(tuned, chose_gemm ? by_gemm : by_primitive));

  // Flip the decision in the file: a fresh thread (its own primitive cache) must follow it.
  const std::string head = lines[0].substr(0, lines[0].rfind(' '));
  std::ofstream(cache.file()) << "# a comment\n"
                              << "some-other-machine " << head.substr(head.find(' ') + 1)
                              << " primitive\nnot a valid line\n"
                              << head << (chose_gemm ? " primitive" : " gemm") << "\n";
  forget_gemm_paths();
  Tensor next = Tensor::zeros({n, n});
  const int team = omp_get_max_threads();
  std::thread([&] {
    omp_set_num_threads(team);  // the same team size: the same shape key
    gemm(s, A.data(), B.data(), next.data());
  }).join();
  CHECK(same_bits(next, chose_gemm ? by_primitive : by_gemm));
  CHECK(lines_of(cache.file()).size() == 4);  // nothing timed again, nothing appended
}

TEST_CASE("an unwritable cache costs only the tuning") {
  CacheDir cache("/proc/attn-cannot-write-here");
  const int64_t n = 300;
  Tensor A = random({n, n}, 11, 1, false), B = random({n, n}, 12, 1, false);
  Tensor C = Tensor::zeros({n, n}), expected = Tensor::zeros({n, n});
  gemm(packed_gemm(n, n, n, false, true, false), A.data(), B.data(), C.data());
  gemm_reference(packed_gemm(n, n, n, false, true, false), A.data(), B.data(), expected.data());
  CHECK(max_abs_diff(C, expected) < 1e-4);
}

TEST_CASE("two runs tuning one shape at once: the first decision recorded wins") {
  CacheDir cache;
  CHECK(remember_gemm_path("probe-shape", GemmPath::kGemm) == GemmPath::kGemm);
  const std::string line = lines_of(cache.file()).at(0);
  const std::string machine = line.substr(0, line.find(' '));
  CHECK(!known_gemm_path("raced-shape"));  // this run has read the file: nothing for it
  // Meanwhile another run records its decision for the shape...
  std::ofstream(cache.file(), std::ios::app) << machine << " raced-shape gemm\n";
  // ... so this run's own (different) result gives way, and nothing is appended.
  CHECK(remember_gemm_path("raced-shape", GemmPath::kPrimitive) == GemmPath::kGemm);
  CHECK(known_gemm_path("raced-shape") == GemmPath::kGemm);
  CHECK(lines_of(cache.file()).size() == 2);
}

TEST_CASE("a cache file whose last line lost its newline still takes new lines") {
  CacheDir cache;
  CHECK(remember_gemm_path("first-shape", GemmPath::kGemm) == GemmPath::kGemm);
  std::ofstream(cache.file(), std::ios::app) << "half a li";  // a run died mid-append
  forget_gemm_paths();
  CHECK(remember_gemm_path("second-shape", GemmPath::kPrimitive) == GemmPath::kPrimitive);
  forget_gemm_paths();
  CHECK(known_gemm_path("first-shape") == GemmPath::kGemm);
  CHECK(known_gemm_path("second-shape") == GemmPath::kPrimitive);
  CHECK(lines_of(cache.file()).size() == 3);  // the broken line stays apart, ignored
}

TEST_CASE("ATTN_MATMUL_PATH: the three values, and a clear error for anything else") {
  CHECK(parse_gemm_path_policy("") == GemmPathPolicy::kTune);
  CHECK(parse_gemm_path_policy("tune") == GemmPathPolicy::kTune);
  CHECK(parse_gemm_path_policy("primitive") == GemmPathPolicy::kPrimitive);
  CHECK(parse_gemm_path_policy("gemm") == GemmPathPolicy::kGemm);
  CHECK_THROWS_WITH(parse_gemm_path_policy("fast"),
                    "ATTN_MATMUL_PATH='fast': expected tune, primitive or gemm");
}

