// Attention operator benchmark: forward and forward+backward milliseconds (medians after
// warm-up) and the allocator's high-water mark above the inputs, one JSON line per
// configuration. Sweeps T unless --T is given. --precision bf16: softmax attention's tile
// products and linear attention's products in bf16; --variant softmax-packed: the model's
// entry (one [B, T, 3C] input).
//   bench_attention --variant softmax --causal 1 --B 1 --H 4 --D 64 --Tmin 256 --Tmax 16384
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "testing/composed.h"
#include "attention/linear_attention.h"
#include "attention/linformer.h"
#include "attention/softmax_attention.h"
#include "attention/synthetic_attention.h"
#include "engine/allocator.h"
#include "engine/bf16.h"
#include "engine/parallel.h"
#include "engine/tape.h"

using namespace attn;

namespace {

// The process's peak resident memory so far (kernel scratch included); run one configuration
// per process (bench/attention_sweep.sh does) for a per-configuration figure.
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

double median_ms(const std::function<void()>& fn, int repeats) {
  fn();  // warm-up
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// A variant: its extra inputs (made once per T, requiring gradients) and its forward.
struct Variant {
  std::function<std::vector<Tensor>(int64_t B, int64_t H, int64_t T, Rng&)> extra;
  std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, const std::vector<Tensor>&, bool)> run;
};

std::vector<Tensor> none(int64_t, int64_t, int64_t, Rng&) { return {}; }

Variant variant_by_name(const std::string& name, int64_t D, int64_t linformer_k, int64_t chunk) {
  if (name == "softmax")
    return {none, [](auto& q, auto& k, auto& v, auto&, bool causal) {
              SoftmaxAttentionOptions o;
              o.causal = causal;
              return softmax_attention(q, k, v, o);
            }};
  if (name == "softmax-packed")  // the model's entry: qkv [B, T, 3 H D] from one projection
    return {[D](int64_t B, int64_t H, int64_t T, Rng& rng) {
              return std::vector<Tensor>{Tensor::randn({B, T, 3 * H * D}, rng).requires_grad_()};
            },
            [](auto& q, auto&, auto&, auto& extra, bool causal) {
              SoftmaxAttentionOptions o;
              o.causal = causal;
              // [B, T, H D] viewed as [B, H, T, D] for the shared dout (same element count)
              return reshape(softmax_self_attention_packed(extra[0], q.size(1), o), q.shape());
            }};
  if (name == "softmax-composed")
    return {none, [](auto& q, auto& k, auto& v, auto&, bool causal) {
              return softmax_attention_composed(q, k, v, causal);
            }};
  if (name == "linear")
    return {none, [chunk](auto& q, auto& k, auto& v, auto&, bool causal) {
              LinearAttentionOptions o;
              o.causal = causal;
              o.chunk = chunk;
              return linear_attention(q, k, v, o);
            }};
  if (name == "synth-random")  // a learned [1, H, T, T] logit matrix shared by the batch
    return {[](int64_t, int64_t H, int64_t T, Rng& rng) {
              return std::vector<Tensor>{Tensor::randn({1, H, T, T}, rng).requires_grad_()};
            },
            [](auto&, auto&, auto& v, auto& extra, bool causal) {
              return synthetic_attention(extra[0], v, causal);
            }};
  if (name == "linformer")
    return {[linformer_k](int64_t, int64_t, int64_t T, Rng& rng) {
              const float std = 1.0f / std::sqrt(static_cast<float>(T));
              return std::vector<Tensor>{Tensor::randn({linformer_k, T}, rng, std).requires_grad_(),
                                         Tensor::randn({linformer_k, T}, rng, std).requires_grad_()};
            },
            [](auto& q, auto& k, auto& v, auto& extra, bool causal) {
              if (causal) throw std::invalid_argument("linformer cannot be causal");
              return softmax_attention(q, linformer_project(extra[0], k), linformer_project(extra[1], v));
            }};
  throw std::invalid_argument("unknown variant '" + name + "'");
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = "softmax";
  int64_t B = 1, H = 4, D = 64, T = 0, Tmin = 256, Tmax = 16384;
  int causal = 0, threads_opt = 0, repeats = 5;
  int64_t linformer_k = 256;
  CLI::App app{"attention operator benchmark"};
  app.add_option("--variant", name);
  app.add_option("--causal", causal);
  app.add_option("--B", B);
  app.add_option("--H", H);
  app.add_option("--D", D);
  app.add_option("--T", T, "one length (else a sweep Tmin..Tmax, doubling)");
  app.add_option("--Tmin", Tmin);
  app.add_option("--Tmax", Tmax);
  app.add_option("--repeats", repeats);
  app.add_option("--threads", threads_opt);
  app.add_option("--linformer-k", linformer_k, "Linformer projected length");
  int64_t chunk = LinearAttentionOptions{}.chunk;
  app.add_option("--chunk", chunk, "causal linear attention's rows per chunk");
  std::string precision_name = "fp32";
  app.add_option("--precision", precision_name, "fp32 or bf16 (softmax and linear attention's products)");
  CLI11_PARSE(app, argc, argv);
  if (threads_opt > 0) set_threads(threads_opt);
  PrecisionScope precision(checked_precision(precision_name));
  const Variant f = variant_by_name(name, D, linformer_k, chunk);
  for (int64_t t = T ? T : Tmin; t <= (T ? T : Tmax); t *= 2) {
    Rng rng(1);
    Tensor q = Tensor::randn({B, H, t, D}, rng).requires_grad_();
    Tensor k = Tensor::randn({B, H, t, D}, rng).requires_grad_();
    Tensor v = Tensor::randn({B, H, t, D}, rng).requires_grad_();
    Tensor dout = Tensor::randn({B, H, t, D}, rng);
    std::vector<Tensor> extra = f.extra(B, H, t, rng);
    for (Tensor& e : extra) e.grad_data();
    // Gradient buffers exist before measuring, so peak counts only the operator's own memory.
    q.grad_data(), k.grad_data(), v.grad_data();
    double fwd = 0;
    {
      NoGradGuard no_grad;
      fwd = median_ms([&] { f.run(q, k, v, extra, causal); }, repeats);
    }
    const size_t base = allocator_stats().bytes_in_use;
    reset_peak_bytes();
    const double fwd_bwd = median_ms([&] { backward(f.run(q, k, v, extra, causal), dout); }, repeats);
    const double peak_mb = (allocator_stats().peak_bytes - base) / 1048576.0;
    nlohmann::json j = {{"bench", "attention"}, {"engine", "attn"}, {"variant", name}, {"B", B}, {"H", H}, {"T", t},
                        {"D", D}, {"causal", causal != 0}, {"threads", threads()}, {"precision", precision_name},
                        {"fwd_ms", fwd}, {"fwd_bwd_ms", fwd_bwd}, {"peak_mb", peak_mb},
                        {"process_peak_rss_mb", peak_rss_mb()}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
}
