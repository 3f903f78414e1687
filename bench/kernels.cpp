// Memory-bound kernels: GB/s of memory traffic (bytes each kernel must read and write once)
// for elementwise ops, softmax and layernorm, forward and backward, at 1 thread and at the
// given count. One JSON line per kernel and thread count.
//   bench_kernels --threads 2 --rows 8192 --cols 1024
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/tape.h"
#include "engine/tensor.h"

using namespace attn;

namespace {

double median_ms(const std::function<void()>& fn) {
  fn();
  std::vector<double> ms;
  for (int r = 0; r < 15; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void report(const std::string& kernel, int threads, int64_t rows, int64_t cols, double ms,
            double bytes) {
  nlohmann::json j = {{"bench", "kernels"}, {"kernel", kernel}, {"threads", threads},
                      {"rows", rows}, {"cols", cols}, {"ms", ms}, {"gb_per_s", bytes / ms * 1e-6}};
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int max_threads = 2;
  int64_t rows = 8192, cols = 1024;
  CLI::App app{"memory-bound kernel benchmark"};
  app.add_option("--threads", max_threads);
  app.add_option("--rows", rows);
  app.add_option("--cols", cols);
  CLI11_PARSE(app, argc, argv);
  Rng rng(1);
  const Tensor x = Tensor::randn({rows, cols}, rng);
  const Tensor y = Tensor::randn({rows, cols}, rng);
  const Tensor w = Tensor::randn({cols}, rng), b = Tensor::randn({cols}, rng);
  const double n = static_cast<double>(rows * cols) * sizeof(float);
  for (int t : {1, max_threads}) {
    set_threads(t);
    {
      NoGradGuard no_grad;  // forward kernels alone
      report("add", t, rows, cols, median_ms([&] { add(x, y); }), 3 * n);
      report("gelu", t, rows, cols, median_ms([&] { gelu(x); }), 2 * n);
      report("exp", t, rows, cols, median_ms([&] { exp(x); }), 2 * n);
      report("softmax", t, rows, cols, median_ms([&] { softmax(x); }), 2 * n);
      report("layernorm", t, rows, cols, median_ms([&] { layernorm(x, w, b); }), 2 * n);
    }
    // Forward + backward (the backward reads dY and the saved tensor, writes dX).
    Tensor xg = x.clone().requires_grad_();
    Tensor dy = Tensor::randn({rows, cols}, rng);
    auto fwd_bwd = [&](Tensor (*op)(const Tensor&)) {
      return median_ms([&] {
        xg.release_grad();
        backward(op(xg), dy);
      });
    };
    report("gelu_fwd_bwd", t, rows, cols, fwd_bwd(gelu), 2 * n + 4 * n);
    report("softmax_fwd_bwd", t, rows, cols, fwd_bwd(softmax), 2 * n + 4 * n);
    Tensor wg = w.clone().requires_grad_(), bg = b.clone().requires_grad_();
    report("layernorm_fwd_bwd", t, rows, cols, median_ms([&] {
             xg.release_grad();
             backward(layernorm(xg, wg, bg), dy);
           }), 2 * n + 4 * n);
  }
}
