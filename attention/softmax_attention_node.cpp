// The autograd entries of softmax attention (attention/softmax_attention.h): shape checks,
// what the tape node saves (q, k, v or the packed qkv, the output and lse: O(T D), never
// T x T), and the backward that calls the kernel of softmax_attention.cpp.
#include <stdexcept>

#include "attention/softmax_attention.h"
#include "engine/bf16.h"
#include "engine/check.h"
#include "engine/tape.h"

namespace attn {
namespace {

// The inputs (q, k, v; or the packed qkv in q), the output and lse [B, H, Tq]: O(T D),
// never T x T.
struct SoftmaxSaved : Saved {
  Tensor q, k, v, out, lse;
  SoftmaxAttentionOptions options;
  AttentionDims dims{};
  AttentionLayouts layouts{};
  size_t bytes() const override { return tensor_bytes({&q, &k, &v, &out, &lse}); }
};

void softmax_attention_node_backward(Node& node) {
  const auto& s = node.state<SoftmaxSaved>();
  softmax_attention_backward(node.needs_grad(0) ? node.grad_in(0) : nullptr,
                             node.needs_grad(1) ? node.grad_in(1) : nullptr,
                             node.needs_grad(2) ? node.grad_in(2) : nullptr, node.grad_out(),
                             s.out.data(), s.lse.data(), s.q.data(), s.k.data(), s.v.data(),
                             s.dims, s.layouts, s.options);
}

// Packed form: one input, qkv; q, k, v and their gradients are offsets 0, C, 2C in it.
void packed_node_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const auto& s = node.state<SoftmaxSaved>();
  const int64_t C = s.dims.H * s.dims.D;
  const float* qkv = s.q.data();
  float* g = node.grad_in(0);
  softmax_attention_backward(g, g + C, g + 2 * C, node.grad_out(), s.out.data(), s.lse.data(),
                             qkv, qkv + C, qkv + 2 * C, s.dims, s.layouts, s.options);
}

void check_options(const char* op, const AttentionDims& dims, const Shape& q, const Shape& k,
                   const SoftmaxAttentionOptions& options) {
  if (dims.Tq == 0 || dims.Tk == 0 || dims.D == 0)
    shape_error(op, q, k, "(q and k) must not be empty");
  if (options.causal && dims.Tq != dims.Tk)
    shape_error(op, q, k, "(q and k) must have equal lengths in causal mode");
  if (!options.key_lengths.empty() &&
      static_cast<int64_t>(options.key_lengths.size()) != dims.B)
    arg_error(op, "key_lengths has " + std::to_string(options.key_lengths.size()) +
                      " entries for a batch of " + std::to_string(dims.B));
  const auto& t = options.tiles;
  if (t.fwd_q < 1 || t.fwd_k < 1 || t.bwd_q < 1 || t.bwd_k < 1)
    arg_error(op, "tile sizes must be positive");
}

// The options a call runs with: bf16 tiles in bf16 precision (engine/bf16.h).
SoftmaxAttentionOptions with_precision(SoftmaxAttentionOptions options) {
  options.bf16 = options.bf16 || precision() == Precision::kBF16;
  return options;
}

}  // namespace

Tensor softmax_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         const SoftmaxAttentionOptions& given) {
  const SoftmaxAttentionOptions options = with_precision(given);
  const char* op = "softmax_attention";
  check_defined(op, q), check_defined(op, k), check_defined(op, v);
  if (q.dim() != 4) arg_error(op, "q must be [B, H, T, D], got " + to_string(q.shape()));
  if (k.shape() != v.shape()) shape_error(op, k.shape(), v.shape(), "(k and v) must be equal");
  if (k.dim() != 4 || k.size(0) != q.size(0) || k.size(1) != q.size(1) || k.size(3) != q.size(3))
    shape_error(op, q.shape(), k.shape(), "(q and k) must agree in B, H and D");
  const AttentionDims dims{q.size(0), q.size(1), q.size(2), k.size(2), q.size(3)};
  check_options(op, dims, q.shape(), k.shape(), options);
  const AttentionLayouts layouts = AttentionLayouts::contiguous(dims);
  Tensor out = Tensor::empty(q.shape());
  Tensor lse = Tensor::empty({dims.B, dims.H, dims.Tq});
  softmax_attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), dims, layouts,
                            options);
  if (Node* node =
          record(Op::ATTENTION_SOFTMAX, softmax_attention_node_backward, out, {q, k, v})) {
    auto& s = node->save<SoftmaxSaved>();
    s.q = q, s.k = k, s.v = v, s.out = out, s.lse = lse;
    s.options = options, s.dims = dims, s.layouts = layouts;
  }
  return out;
}

Tensor softmax_self_attention_packed(const Tensor& qkv, int64_t heads,
                                     const SoftmaxAttentionOptions& given) {
  const SoftmaxAttentionOptions options = with_precision(given);
  const char* op = "softmax_self_attention_packed";
  check_defined(op, qkv);
  if (qkv.dim() != 3 || heads <= 0 || qkv.size(2) % (3 * heads) != 0)
    arg_error(op, "qkv must be [B, T, 3C] with C a multiple of the " + std::to_string(heads) +
                      " heads, got " + to_string(qkv.shape()));
  const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, D = C / heads;
  const AttentionDims dims{B, heads, T, T, D};
  check_options(op, dims, qkv.shape(), qkv.shape(), options);
  const HeadLayout in{T * 3 * C, D, 3 * C};
  const AttentionLayouts layouts{in, in, in, HeadLayout{T * C, D, C}};
  Tensor out = Tensor::empty({B, T, C});
  Tensor lse = Tensor::empty({B, heads, T});
  const float* p = qkv.data();
  softmax_attention_forward(out.data(), lse.data(), p, p + C, p + 2 * C, dims, layouts, options);
  if (Node* node = record(Op::ATTENTION_SOFTMAX, packed_node_backward, out, {qkv})) {
    auto& s = node->save<SoftmaxSaved>();
    s.q = qkv, s.out = out, s.lse = lse;
    s.options = options, s.dims = dims, s.layouts = layouts;
  }
  return out;
}

}  // namespace attn
