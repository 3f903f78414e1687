// Softmax attention, fused and tiled (FlashAttention, Dao et al. 2022, algorithms 1 and 2).
//
// Forward, for each query tile Q_i and the key/value tiles K_j, V_j it may see:
//   S = scale Q_i K_j^T                      (a tile of scores, rows x cols)
//   m' = max(m, rowmax S);  P = e^(S - m')   (online softmax: running max m and sum l)
//   l = l e^(m - m') + rowsum P;  O = O e^(m - m') + P V_j
// and finally O /= l and lse = m + log l, the only thing saved besides the output.
//
// Backward, with Delta = rowsum(dO * O) (= rowsum(dP * P) for each query row):
//   P = e^(S - lse)            recomputed per tile from the saved lse
//   dV_j += P^T dO_i
//   dP = dO_i V_j^T
//   dS = P * (dP - Delta)      (the softmax Jacobian applied to dP)
//   dQ_i += scale dS K_j;  dK_j += scale dS^T Q_i
// Extra memory: lse (B H T floats) and one tile per thread, never T x T. Causal tiles wholly
// above the diagonal are skipped in both passes. Work is split over (batch, head) pairs.
#include "attention/softmax_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/check.h"
#include "engine/gemm.h"
#include "engine/parallel.h"
#include "engine/simd_math.h"
#include "engine/tape.h"

namespace attn {
namespace {

GemmShape tile_gemm(int64_t M, int64_t N, int64_t K, bool ta, bool tb, int64_t lda, int64_t ldb,
                    int64_t ldc, float alpha, bool accumulate) {
  GemmShape s;
  s.M = M, s.N = N, s.K = K, s.trans_a = ta, s.trans_b = tb;
  s.lda = lda, s.ldb = ldb, s.ldc = ldc, s.alpha = alpha, s.accumulate = accumulate;
  return s;
}

// Number of keys query row `row` may see, given the visible range of its batch.
inline int64_t visible_keys(int64_t row, int64_t key_len, bool causal) {
  return causal ? std::min(row + 1, key_len) : key_len;
}

float scale_of(const SoftmaxAttentionOptions& o, int64_t D) {
  return o.scale != 0.0f ? o.scale : 1.0f / std::sqrt(static_cast<float>(D));
}

int64_t key_length(const SoftmaxAttentionOptions& o, int64_t b, int64_t Tk) {
  return o.key_lengths.empty() ? Tk : std::clamp<int64_t>(o.key_lengths[b], 0, Tk);
}

}  // namespace

AttentionLayouts AttentionLayouts::contiguous(const AttentionDims& d) {
  const HeadLayout kv = HeadLayout::contiguous(d.H, d.Tk, d.D);
  const HeadLayout qo = HeadLayout::contiguous(d.H, d.Tq, d.D);
  return {qo, kv, kv, qo};
}

void softmax_attention_forward(float* out, float* lse, const float* q, const float* k,
                               const float* v, const AttentionDims& d,
                               const AttentionLayouts& lay,
                               const SoftmaxAttentionOptions& options) {
  const float scale = scale_of(options, d.D);
  const int64_t tile_q = options.tiles.fwd_q, tile_k = options.tiles.fwd_k;
  ParallelErrors errors;  // allocation and oneDNN may throw inside the region
#pragma omp parallel
  {
    std::vector<float> S, m, l;
    errors.capture([&] { S.resize(tile_q * tile_k), m.resize(tile_q), l.resize(tile_q); });
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < d.B * d.H; ++bh)
      errors.capture([&] {
        const int64_t b = bh / d.H, h = bh % d.H;
        const int64_t key_len = key_length(options, b, d.Tk);
        const int64_t qr = lay.q.row, kr = lay.k.row, vr = lay.v.row, orow = lay.out.row;
        const float* Q = q + b * lay.q.batch + h * lay.q.head;
        const float* K = k + b * lay.k.batch + h * lay.k.head;
        const float* V = v + b * lay.v.batch + h * lay.v.head;
        float* O = out + b * lay.out.batch + h * lay.out.head;
        float* L = lse + bh * d.Tq;
        for (int64_t i0 = 0; i0 < d.Tq; i0 += tile_q) {
          const int64_t rows = std::min(tile_q, d.Tq - i0);
          std::fill(m.begin(), m.end(), -INFINITY);
          std::fill(l.begin(), l.end(), 0.0f);
          for (int64_t r = 0; r < rows; ++r) std::fill_n(O + (i0 + r) * orow, d.D, 0.0f);
          const int64_t key_end = visible_keys(i0 + rows - 1, key_len, options.causal);
          for (int64_t j0 = 0; j0 < key_end; j0 += tile_k) {
            const int64_t cols = std::min(tile_k, key_end - j0);
            gemm(tile_gemm(rows, cols, d.D, false, true, qr, kr, tile_k, scale, false),
                 Q + i0 * qr, K + j0 * kr, S.data());
            for (int64_t r = 0; r < rows; ++r) {
              float* s = S.data() + r * tile_k;
              const int64_t seen = std::clamp<int64_t>(
                  visible_keys(i0 + r, key_len, options.causal) - j0, 0, cols);
              for (int64_t c = seen; c < cols; ++c) s[c] = -INFINITY;  // masked keys
              float mx = m[r];
#pragma omp simd reduction(max : mx)
              for (int64_t c = 0; c < seen; ++c) mx = std::max(mx, s[c]);
              const float correction = m[r] == -INFINITY ? 0.0f : fast_exp(m[r] - mx);
              const float shift = mx == -INFINITY ? 0.0f : mx;  // no key seen yet: P = 0
              float total = 0.0f;
#pragma omp simd reduction(+ : total)
              for (int64_t c = 0; c < cols; ++c) {
                s[c] = fast_exp(s[c] - shift);
                total += s[c];
              }
              l[r] = l[r] * correction + total;
              m[r] = mx;
              float* o = O + (i0 + r) * orow;
              if (correction != 1.0f)
#pragma omp simd
                for (int64_t c = 0; c < d.D; ++c) o[c] *= correction;
            }
            gemm(tile_gemm(rows, d.D, cols, false, false, tile_k, vr, orow, 1.0f, true), S.data(),
                 V + j0 * vr, O + i0 * orow);
          }
          for (int64_t r = 0; r < rows; ++r) {
            float* o = O + (i0 + r) * orow;
            // A query with no visible key gets output 0 and lse +inf (so that P = 0 later).
            const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
            for (int64_t c = 0; c < d.D; ++c) o[c] *= inv;
            L[i0 + r] = l[r] > 0.0f ? m[r] + std::log(l[r]) : INFINITY;
          }
        }
      });
  }
  errors.rethrow();
}

void softmax_attention_backward(float* dq, float* dk, float* dv, const float* d_out,
                                const float* out, const float* lse, const float* q,
                                const float* k, const float* v, const AttentionDims& d,
                                const AttentionLayouts& lay,
                                const SoftmaxAttentionOptions& options) {
  const float scale = scale_of(options, d.D);
  const int64_t tile_q = options.tiles.bwd_q, tile_k = options.tiles.bwd_k;
  ParallelErrors errors;  // allocation and oneDNN may throw inside the region
#pragma omp parallel
  {
    std::vector<float> P, dP, delta;
    errors.capture([&] { P.resize(tile_q * tile_k), dP.resize(tile_q * tile_k), delta.resize(d.Tq); });
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < d.B * d.H; ++bh)
      errors.capture([&] {
        const int64_t b = bh / d.H, h = bh % d.H;
        const int64_t key_len = key_length(options, b, d.Tk);
        const int64_t qr = lay.q.row, kr = lay.k.row, vr = lay.v.row, orow = lay.out.row;
        const int64_t q_off = b * lay.q.batch + h * lay.q.head;
        const int64_t k_off = b * lay.k.batch + h * lay.k.head;
        const int64_t v_off = b * lay.v.batch + h * lay.v.head;
        const int64_t o_off = b * lay.out.batch + h * lay.out.head;
        const float *Q = q + q_off, *K = k + k_off, *V = v + v_off;
        const float *O = out + o_off, *dO = d_out + o_off, *L = lse + bh * d.Tq;
        for (int64_t t = 0; t < d.Tq; ++t) {  // Delta = rowsum(dO * O)
          float s = 0.0f;
#pragma omp simd reduction(+ : s)
          for (int64_t c = 0; c < d.D; ++c) s += dO[t * orow + c] * O[t * orow + c];
          delta[t] = s;
        }
        for (int64_t j0 = 0; j0 < key_len; j0 += tile_k) {
          const int64_t tile_cols = std::min(tile_k, key_len - j0);
          // In causal mode only queries at >= j0 see this key tile.
          const int64_t first_row = options.causal ? j0 / tile_q * tile_q : 0;
          for (int64_t i0 = first_row; i0 < d.Tq; i0 += tile_q) {
            const int64_t rows = std::min(tile_q, d.Tq - i0);
            // Causal: this query tile sees keys up to its last row; later columns are all zero.
            const int64_t cols =
                std::min(tile_cols, visible_keys(i0 + rows - 1, key_len, options.causal) - j0);
            gemm(tile_gemm(rows, cols, d.D, false, true, qr, kr, tile_k, scale, false),
                 Q + i0 * qr, K + j0 * kr, P.data());
            for (int64_t r = 0; r < rows; ++r) {
              float* p = P.data() + r * tile_k;
              const int64_t seen = std::clamp<int64_t>(
                  visible_keys(i0 + r, key_len, options.causal) - j0, 0, cols);
              const float row_lse = L[i0 + r];
#pragma omp simd
              for (int64_t c = 0; c < cols; ++c) p[c] = c < seen ? fast_exp(p[c] - row_lse) : 0.0f;
            }
            if (dv)  // dV_j += P^T dO_i
              gemm(tile_gemm(cols, d.D, rows, true, false, tile_k, orow, vr, 1.0f, true), P.data(),
                   dO + i0 * orow, dv + v_off + j0 * vr);
            if (!dq && !dk) continue;
            // dP = dO_i V_j^T, then dS = P * (dP - Delta) in place of dP
            gemm(tile_gemm(rows, cols, d.D, false, true, orow, vr, tile_k, 1.0f, false),
                 dO + i0 * orow, V + j0 * vr, dP.data());
            for (int64_t r = 0; r < rows; ++r) {
              float* ds = dP.data() + r * tile_k;
              const float* p = P.data() + r * tile_k;
              const float dl = delta[i0 + r];
#pragma omp simd
              for (int64_t c = 0; c < cols; ++c) ds[c] = p[c] * (ds[c] - dl);
            }
            if (dq)  // dQ_i += scale dS K_j
              gemm(tile_gemm(rows, d.D, cols, false, false, tile_k, kr, qr, scale, true),
                   dP.data(), K + j0 * kr, dq + q_off + i0 * qr);
            if (dk)  // dK_j += scale dS^T Q_i
              gemm(tile_gemm(cols, d.D, rows, true, false, tile_k, qr, kr, scale, true),
                   dP.data(), Q + i0 * qr, dk + k_off + j0 * kr);
          }
        }
      });
  }
  errors.rethrow();
}

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

}  // namespace

Tensor softmax_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                         const SoftmaxAttentionOptions& options) {
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
                                     const SoftmaxAttentionOptions& options) {
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
