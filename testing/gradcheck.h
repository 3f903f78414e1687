// One finite-difference gradient checker for every op.
//
// loss = sum(f(inputs) * R) with a fixed random R (never a plain sum: it is blind to softmax
// and normalisation, whose gradients sum to zero along a row). The analytic gradient comes
// from backward() with seed R; the numerical one from central differences
//   (loss(x + h e_j) - loss(x - h e_j)) / 2h
// on a random sample of elements j of each input that requires a gradient. The engine is
// float32, so the loss is accumulated in double and h is chosen large enough (default 1e-2,
// truncation error O(h^2)) that float rounding of f (~1e-7 relative) stays below the
// tolerance; only outputs that depend on element j change, so rounding noise stays local.
// An element where the half-step difference disagrees with the full-step one sits on a kink
// (relu at 0) and is skipped; more than a quarter skipped fails the check, and so does a
// check that compared no element at all.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace attn {

struct GradcheckOptions {
  float step = 1e-2f;
  double atol = 2e-3, rtol = 2e-2;
  int samples_per_input = 24;  // elements checked per input (all if the input is smaller)
  uint64_t seed = 7;
};

struct GradcheckResult {
  bool ok = true;
  double worst_error = 0;  // max over checked elements of |analytic - numeric| - tol
  int checked = 0;         // elements compared
  int skipped = 0;         // elements on a kink (half and full step disagree), not compared
  std::string report;      // lines for the elements that failed
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks d sum(f(inputs) R) / d input for every input with requires_grad().
GradcheckResult gradcheck(const TensorFn& f, std::vector<Tensor> inputs,
                          const GradcheckOptions& options = {});

}  // namespace attn
