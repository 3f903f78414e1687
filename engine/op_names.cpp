#include "engine/ops.h"

#include <cstddef>

namespace attn {

const char* op_name(Op op) {
  static const char* const names[] = {
      "add", "sub", "mul", "div", "scale", "neg", "exp", "log", "sqrt", "relu", "gelu", "elu",
      "sigmoid", "tanh", "sum", "mean", "sum_last", "mean_last", "matmul", "linear", "transpose",
      "permute", "reshape", "concat", "slice", "softmax", "log_softmax", "layernorm",
      "embedding", "cross_entropy", "dropout", "attention_softmax", "attention_synthetic",
      "attention_linear", "attention_linear_causal", "attention_mixture",
      "attention_factorized_dense"};
  const auto index = static_cast<size_t>(op);
  return index < sizeof(names) / sizeof(names[0]) ? names[index] : "unknown";
}

}  // namespace attn
