#include "testing/gradcheck.h"

#include <cmath>
#include <numeric>
#include <sstream>

#include "engine/tape.h"

namespace attn {
namespace {

double weighted_sum(const Tensor& out, const Tensor& r) {
  double total = 0.0;
  const float *o = out.data(), *w = r.data();
  for (int64_t i = 0, n = out.numel(); i < n; ++i) total += static_cast<double>(o[i]) * w[i];
  return total;
}

}  // namespace

GradcheckResult gradcheck(const TensorFn& f, std::vector<Tensor> inputs,
                          const GradcheckOptions& options) {
  Rng rng(options.seed);
  for (Tensor& x : inputs)
    if (x.requires_grad()) x.release_grad();
  Tensor out = f(inputs);
  const Tensor r = Tensor::randn(out.shape(), rng);
  if (out.requires_grad()) backward(out, r);

  GradcheckResult result;
  std::ostringstream report;
  NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    const Tensor analytic = x.has_grad() ? x.grad().clone() : Tensor::zeros(x.shape());
    std::vector<int64_t> picks(x.numel());
    std::iota(picks.begin(), picks.end(), 0);
    for (int64_t i = static_cast<int64_t>(picks.size()) - 1; i > 0; --i)
      std::swap(picks[i], picks[rng.below(i + 1)]);
    if (static_cast<int64_t>(picks.size()) > options.samples_per_input)
      picks.resize(options.samples_per_input);
    for (int64_t j : picks) {
      float* p = x.data() + j;
      const float saved = *p;
      *p = saved + options.step;
      const double plus = weighted_sum(f(inputs), r);
      *p = saved - options.step;
      const double minus = weighted_sum(f(inputs), r);
      *p = saved;
      const double numeric = (plus - minus) / (2.0 * options.step);
      const double tolerance = options.atol + options.rtol * std::abs(numeric);
      // A kink (relu, max) within the step: the half-step difference disagrees. The
      // derivative is not defined there, so the element is skipped (and counted).
      *p = saved + options.step / 2;
      const double half_plus = weighted_sum(f(inputs), r);
      *p = saved - options.step / 2;
      const double half_minus = weighted_sum(f(inputs), r);
      *p = saved;
      if (std::abs((half_plus - half_minus) / options.step - numeric) > tolerance) {
        ++result.skipped;
        continue;
      }
      ++result.checked;
      const double a = analytic.data()[j];
      const double err = std::abs(a - numeric) - tolerance;
      result.worst_error = std::max(result.worst_error, err);
      if (err > 0 || std::isnan(a) || std::isnan(numeric)) {
        result.ok = false;
        report << "input " << k << " " << to_string(x.shape()) << " element " << j
               << ": analytic " << a << " numeric " << numeric << "\n";
      }
    }
  }
  if (result.checked == 0) {  // a check that compared nothing must not pass
    result.ok = false;
    report << "nothing was checked: no input requires a gradient, or every element was skipped\n";
  } else if (result.skipped * 4 > result.checked + result.skipped) {  // too few smooth points
    result.ok = false;
    report << result.skipped << " of " << result.checked + result.skipped
           << " elements sat on kinks; choose inputs away from them\n";
  }
  result.report = report.str();
  return result;
}

}  // namespace attn
