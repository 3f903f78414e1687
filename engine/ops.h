// All differentiable ops of the engine: the table of contents.
//
// Each row: op, what its node saves, the gradient of each input (dY = upstream gradient).
// "saves" is what the node keeps alive: each op's saved state is a named struct in its file
// (engine/tape.h), and a node reaches its inputs' gradients through edges that hold no data,
// so an input the backward does not read is freed as soon as the forward drops it (MUL,
// MATMUL and LINEAR keep an operand only when the other operand needs a gradient).
// ATTN_TAPE=1 prints every node's op, output shape and saved bytes before each backward.
// Broadcasting (binary ops): the smaller operand's shape must be a trailing suffix of the
// larger's (e.g. [B, T, C] with [C]) or a single element; its gradient sums over the repeats.
//
//  op              saves                 gradient
//  ADD   a + b     -                     dA += dY, dB += dY
//  SUB   a - b     -                     dA += dY, dB -= dY
//  MUL   a * b     inputs                dA += dY b, dB += dY a
//  DIV   a / b     inputs                dA += dY / b, dB -= dY a / b^2
//  SCALE s x       s                     dX += s dY
//  NEG   -x        -                     dX -= dY
//  EXP   e^x       output y              dX += dY y
//  LOG   ln x      input                 dX += dY / x
//  SQRT  x^1/2     output y              dX += dY / (2 y)
//  RELU            output y              dX += dY [y > 0]
//  GELU  tanh form input                 dX += dY gelu'(x)
//  ELU   alpha=1   output y              dX += dY (x > 0 ? 1 : y + 1)
//  SIGMOID         output y              dX += dY y (1 - y)
//  TANH            output y              dX += dY (1 - y^2)
//  SUM / MEAN      -                     dX += dY (/ n)            (all, or over the last dim)
//  MAX_LAST        not differentiable    (returns a tensor that requires no gradient)
//  MATMUL  A B     inputs                dA += dY B^T, dB += A^T dY (transposed forms alike)
//  LINEAR  X W + b inputs                dX += dY W^T, dW += X^T dY, db += column sums of dY
//  TRANSPOSE       -                     dX += dY^T                (last two dims)
//  PERMUTE         perm                  dX += permute(dY, inverse perm)
//  RESHAPE         -                     dX += dY                  (a view in the forward)
//  CONCAT          axis, sizes           dX_k += slice k of dY
//  SLICE           axis, start           dX[slice] += dY           (split = several slices)
//  SOFTMAX         output y              dX += y (dY - sum(dY y))  (last dim)
//  LOG_SOFTMAX     output y              dX += dY - e^y sum(dY)    (last dim)
//  LAYERNORM       x, weight, mean, rstd xhat = (x-mean) rstd; dW += sum dY xhat; dB += sum dY;
//                                        dX += rstd (g - mean(g) - xhat mean(g xhat)), g = dY W
//  EMBEDDING       ids                   dW[id] += dY              (scatter-add)
//  CROSS_ENTROPY   ids, lse              dZ += (softmax(z) - onehot) dY / n_valid
//  DROPOUT         seed, p               dX += dY mask / (1 - p)   (mask regenerated from seed)
//  ATTENTION_*     see attention/        each variant documents its own contract
#pragma once
#include <cstdint>
#include <vector>

namespace attn {

enum class Op : uint8_t {
  ADD, SUB, MUL, DIV, SCALE, NEG, EXP, LOG, SQRT, RELU, GELU, ELU, SIGMOID, TANH,
  SUM, MEAN, SUM_LAST, MEAN_LAST, MATMUL, LINEAR, TRANSPOSE, PERMUTE, RESHAPE, CONCAT, SLICE,
  SOFTMAX, LOG_SOFTMAX, LAYERNORM, EMBEDDING, CROSS_ENTROPY, DROPOUT,
  ATTENTION_SOFTMAX, ATTENTION_SYNTHETIC, ATTENTION_LINEAR, ATTENTION_LINEAR_CAUSAL,
  ATTENTION_MIXTURE, ATTENTION_FACTORIZED_DENSE,
};
const char* op_name(Op op);

class Tensor;

// Integer token ids with a shape ([B, T] or [N]); the engine's only non-float data.
struct Ids {
  std::vector<int64_t> shape;
  std::vector<int32_t> values;
};

// Elementwise (engine/ops/binary.cpp, engine/ops/unary.cpp)
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);  // tanh approximation, as GPT-2
Tensor elu(const Tensor& x);   // alpha = 1
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// Reductions (engine/ops/reduce.cpp)
Tensor sum(const Tensor& x);        // -> scalar
Tensor mean(const Tensor& x);       // -> scalar
Tensor sum_last(const Tensor& x);   // [..., N] -> [...]
Tensor mean_last(const Tensor& x);  // [..., N] -> [...]
Tensor max_last(const Tensor& x);   // [..., N] -> [...], no gradient

// Matrix product (engine/ops/matmul.cpp). a [..., M, K] (or [..., K, M] if trans_a),
// b [..., K, N] (or [..., N, K] if trans_b) with equal leading dims, or b 2-D and shared by
// every row of a (Linear layers: [B, T, C] x [C, O]).
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// x [..., K] W [K, N] + b [N] in one oneDNN call (bias fused); b may be undefined.
// (engine/ops/linear.cpp)
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

// Shape (engine/ops/shape.cpp)
Tensor reshape(const Tensor& x, std::vector<int64_t> shape);  // one -1 allowed
Tensor transpose(const Tensor& x);                              // swap the last two dims
Tensor permute(const Tensor& x, const std::vector<int>& perm);
Tensor concat(const std::vector<Tensor>& xs, int axis);
Tensor slice(const Tensor& x, int axis, int64_t start, int64_t length);
std::vector<Tensor> split(const Tensor& x, int axis, const std::vector<int64_t>& sizes);

// Normalisation and losses
Tensor softmax(const Tensor& x);      // last dim (engine/ops/softmax.cpp)
Tensor log_softmax(const Tensor& x);  // last dim
Tensor layernorm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                 float eps = 1e-5f);  // engine/ops/layernorm.cpp
Tensor embedding(const Tensor& weight, const Ids& ids);  // [V, C], ids [...] -> [..., C]
// Mean over targets != ignore_index of -log softmax(logits)[target]; logits [..., V].
Tensor cross_entropy(const Tensor& logits, const Ids& targets, int32_t ignore_index = -1);
// Zeroes each element with probability p and scales the rest by 1/(1-p). The mask is a
// function of (seed, index), so the same seed gives the same mask on any thread count.
Tensor dropout(const Tensor& x, float p, uint64_t seed);

}  // namespace attn
