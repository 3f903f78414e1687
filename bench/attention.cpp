// Attention operator benchmark: forward and forward+backward milliseconds (medians after
// warm-up) and the allocator's high-water mark above the inputs, one JSON line per
// configuration. Sweeps T unless --T is given.
//   bench_attention --variant softmax --causal 1 --B 1 --H 4 --D 64 --Tmin 256 --Tmax 16384
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "attention/composed.h"
#include "attention/softmax_attention.h"
#include "engine/allocator.h"
#include "engine/parallel.h"
#include "engine/tape.h"

using namespace attn;

namespace {

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

using Variant = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, bool)>;

Variant variant_by_name(const std::string& name) {
  if (name == "softmax")
    return [](const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
      SoftmaxAttentionOptions o;
      o.causal = causal;
      return softmax_attention(q, k, v, o);
    };
  if (name == "softmax-composed")
    return [](const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
      return softmax_attention_composed(q, k, v, causal);
    };
  throw std::invalid_argument("unknown variant '" + name + "'");
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = "softmax";
  int64_t B = 1, H = 4, D = 64, T = 0, Tmin = 256, Tmax = 16384;
  int causal = 0, threads_opt = 0, repeats = 5;
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
  CLI11_PARSE(app, argc, argv);
  if (threads_opt > 0) set_threads(threads_opt);
  const Variant f = variant_by_name(name);
  for (int64_t t = T ? T : Tmin; t <= (T ? T : Tmax); t *= 2) {
    Rng rng(1);
    Tensor q = Tensor::randn({B, H, t, D}, rng).requires_grad_();
    Tensor k = Tensor::randn({B, H, t, D}, rng).requires_grad_();
    Tensor v = Tensor::randn({B, H, t, D}, rng).requires_grad_();
    Tensor dout = Tensor::randn({B, H, t, D}, rng);
    // Gradient buffers exist before measuring, so peak counts only the operator's own memory.
    q.grad_data(), k.grad_data(), v.grad_data();
    double fwd = 0;
    {
      NoGradGuard no_grad;
      fwd = median_ms([&] { f(q, k, v, causal); }, repeats);
    }
    const size_t base = allocator_stats().bytes_in_use;
    reset_peak_bytes();
    const double fwd_bwd = median_ms([&] { backward(f(q, k, v, causal), dout); }, repeats);
    const double peak_mb = (allocator_stats().peak_bytes - base) / 1048576.0;
    nlohmann::json j = {{"bench", "attention"}, {"variant", name}, {"B", B}, {"H", H}, {"T", t},
                        {"D", D}, {"causal", causal != 0}, {"threads", threads()},
                        {"fwd_ms", fwd}, {"fwd_bwd_ms", fwd_bwd}, {"peak_mb", peak_mb}};
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
}
