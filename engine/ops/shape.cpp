// Shape ops: reshape (a view), transpose of the last two dims, permute, concat and slice.
// All but reshape copy; their backward scatters the gradient back through the same indexing.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "engine/check.h"
#include "engine/parallel.h"
#include "engine/tape.h"

namespace attn {
namespace {

int normalize_axis(const char* op, int axis, int dims) {
  const int a = axis < 0 ? axis + dims : axis;
  if (a < 0 || a >= dims)
    arg_error(op, "axis " + std::to_string(axis) + " is out of range for " +
                      std::to_string(dims) + " dims");
  return a;
}

// Row-major strides of a shape.
std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int d = static_cast<int>(s.size()) - 2; d >= 0; --d) st[d] = st[d + 1] * s[d + 1];
  return st;
}

// out[permuted index] (+)= in[index]: out's dim d is in's dim perm[d]. Padded to 4 dims so
// one loop nest serves every rank.
void permute_kernel(const float* in, const Shape& in_shape, const std::vector<int>& perm,
                    float* out, bool accumulate) {
  const int n = static_cast<int>(in_shape.size());
  const auto in_strides = strides_of(in_shape);
  int64_t size[4] = {1, 1, 1, 1}, stride[4] = {0, 0, 0, 0};  // over the output's dims
  for (int d = 0; d < n; ++d) {
    size[4 - n + d] = in_shape[perm[d]];
    stride[4 - n + d] = in_strides[perm[d]];
  }
#pragma omp parallel for collapse(2) if (numel_of(in_shape) > kParallelMin)
  for (int64_t i0 = 0; i0 < size[0]; ++i0)
    for (int64_t i1 = 0; i1 < size[1]; ++i1) {
      int64_t o = (i0 * size[1] + i1) * size[2] * size[3];
      for (int64_t i2 = 0; i2 < size[2]; ++i2) {
        const float* src = in + i0 * stride[0] + i1 * stride[1] + i2 * stride[2];
        float* dst = out + o + i2 * size[3];
        if (accumulate)
          for (int64_t i3 = 0; i3 < size[3]; ++i3) dst[i3] += src[i3 * stride[3]];
        else
          for (int64_t i3 = 0; i3 < size[3]; ++i3) dst[i3] = src[i3 * stride[3]];
      }
    }
}

std::vector<int> inverse(const std::vector<int>& perm) {
  std::vector<int> inv(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) inv[perm[d]] = static_cast<int>(d);
  return inv;
}

void reshape_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const float* dy = node.grad_out();
  float* dx = node.grad_in(0);
  const int64_t n = node.out.numel();
#pragma omp parallel for simd if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i];
}

struct PermuteSaved : Saved {
  std::vector<int> perm;  // the forward permutation
};

void permute_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const auto& perm = node.state<PermuteSaved>().perm;
  permute_kernel(node.grad_out(), node.out.shape, inverse(perm), node.grad_in(0), true);
}

// Copies a block of `axis_len` along `axis` between a tensor of shape `shape` and a packed
// tensor that holds only the block: outer x axis_len x inner. `to_block` picks the direction.
void copy_block(float* full, const Shape& shape, int axis, int64_t start, int64_t axis_len,
                float* block, bool to_block, bool accumulate) {
  const int64_t outer = std::accumulate(shape.begin(), shape.begin() + axis, int64_t{1},
                                        std::multiplies<>());
  const int64_t inner = std::accumulate(shape.begin() + axis + 1, shape.end(), int64_t{1},
                                        std::multiplies<>());
  const int64_t row = axis_len * inner;
#pragma omp parallel for if (outer * row > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) {
    float* f = full + (o * shape[axis] + start) * inner;
    float* b = block + o * row;
    if (to_block && accumulate)
      for (int64_t j = 0; j < row; ++j) b[j] += f[j];
    else if (to_block)
      std::memcpy(b, f, sizeof(float) * row);
    else if (accumulate)
      for (int64_t j = 0; j < row; ++j) f[j] += b[j];
    else
      std::memcpy(f, b, sizeof(float) * row);
  }
}

// Concat and slice keep the axis (and the slice its start); input k of a concat starts at
// the sum of the earlier inputs' sizes along the axis.
struct AxisSaved : Saved {
  int axis = 0;
  int64_t start = 0;
};

void concat_backward(Node& node) {
  const int axis = node.state<AxisSaved>().axis;
  float* dy = const_cast<float*>(node.grad_out());
  int64_t start = 0;
  for (size_t k = 0; k < node.in.size(); ++k) {
    const int64_t len = node.in[k].size(axis);
    if (node.needs_grad(static_cast<int>(k)))
      copy_block(dy, node.out.shape, axis, start, len, node.grad_in(static_cast<int>(k)), true,
                 true);
    start += len;
  }
}

void slice_backward(Node& node) {
  if (!node.needs_grad(0)) return;
  const auto& s = node.state<AxisSaved>();
  copy_block(node.grad_in(0), node.in[0].shape, s.axis, s.start, node.out.size(s.axis),
             const_cast<float*>(node.grad_out()), false, true);
}

}  // namespace

Tensor reshape(const Tensor& x, std::vector<int64_t> shape) {
  check_defined("reshape", x);
  int64_t known = 1;
  int infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      if (infer >= 0) shape_error("reshape", x.shape(), shape, "cannot be matched: only one -1 is allowed");
      infer = static_cast<int>(d);
    } else {
      known *= shape[d];
    }
  }
  if (infer >= 0 && known > 0) shape[infer] = x.numel() / known;
  if (numel_of(shape) != x.numel() || (infer >= 0 && known == 0))
    shape_error("reshape", x.shape(), shape, "hold different numbers of elements");
  Tensor out = make_view(x, shape);
  record(Op::RESHAPE, reshape_backward, out, {x});
  return out;
}

Tensor permute(const Tensor& x, const std::vector<int>& perm) {
  check_defined("permute", x);
  std::vector<int> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> identity(x.dim());
  std::iota(identity.begin(), identity.end(), 0);
  if (sorted != identity) {
    Shape p(perm.begin(), perm.end());
    shape_error("permute", x.shape(), p, "do not match: the second must order 0..dims-1");
  }
  Shape out_shape(x.dim());
  for (int d = 0; d < x.dim(); ++d) out_shape[d] = x.size(perm[d]);
  Tensor out = Tensor::empty(out_shape);
  permute_kernel(x.data(), x.shape(), perm, out.data(), false);
  if (Node* node = record(Op::PERMUTE, permute_backward, out, {x}))
    node->save<PermuteSaved>().perm = perm;
  return out;
}

Tensor transpose(const Tensor& x) {
  check_defined("transpose", x);
  if (x.dim() < 2) arg_error("transpose", "needs at least 2 dims, got " + to_string(x.shape()));
  std::vector<int> perm(x.dim());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[x.dim() - 1], perm[x.dim() - 2]);
  return permute(x, perm);
}

Tensor concat(const std::vector<Tensor>& xs, int axis) {
  if (xs.empty()) arg_error("concat", "needs at least one tensor");
  for (const Tensor& x : xs) check_defined("concat", x);
  axis = normalize_axis("concat", axis, xs[0].dim());
  Shape out_shape = xs[0].shape();
  out_shape[axis] = 0;
  for (const Tensor& x : xs) {
    Shape a = x.shape(), b = xs[0].shape();
    if (a.size() != b.size()) shape_error("concat", b, a, "have different numbers of dims");
    a[axis] = b[axis] = 0;
    if (a != b) shape_error("concat", xs[0].shape(), x.shape(), "differ outside the axis");
    out_shape[axis] += x.size(axis);
  }
  Tensor out = Tensor::empty(out_shape);
  int64_t start = 0;
  for (const Tensor& x : xs) {
    copy_block(out.data(), out_shape, axis, start, x.size(axis), const_cast<float*>(x.data()),
               false, false);
    start += x.size(axis);
  }
  if (Node* node = record(Op::CONCAT, concat_backward, out, xs)) node->save<AxisSaved>().axis = axis;
  return out;
}

Tensor slice(const Tensor& x, int axis, int64_t start, int64_t length) {
  check_defined("slice", x);
  axis = normalize_axis("slice", axis, x.dim());
  if (start < 0 || length < 0 || start + length > x.size(axis))
    arg_error("slice", "range [" + std::to_string(start) + ", " + std::to_string(start + length) +
                           ") is outside dim " + std::to_string(axis) + " of " +
                           to_string(x.shape()));
  Shape out_shape = x.shape();
  out_shape[axis] = length;
  Tensor out = Tensor::empty(out_shape);
  copy_block(const_cast<float*>(x.data()), x.shape(), axis, start, length, out.data(), true,
             false);
  if (Node* node = record(Op::SLICE, slice_backward, out, {x})) {
    auto& s = node->save<AxisSaved>();
    s.axis = axis, s.start = start;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int axis, const std::vector<int64_t>& sizes) {
  check_defined("split", x);
  axis = normalize_axis("split", axis, x.dim());
  if (std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) != x.size(axis))
    shape_error("split", x.shape(), Shape(sizes.begin(), sizes.end()),
                "do not match: the sizes must add up to dim " + std::to_string(axis));
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t len : sizes) {
    parts.push_back(slice(x, axis, start, len));
    start += len;
  }
  return parts;
}

}  // namespace attn
