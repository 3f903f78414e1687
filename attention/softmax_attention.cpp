// Softmax attention, fused and tiled: FlashAttention-2 (Dao 2023), Algorithm 1 (forward) and
// Algorithm 2 (backward); the derivation is in docs/softmax_attention.md.
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
// Saved: lse (B H Tq floats) besides the output; per thread one S tile forward, P, dP and
// Delta (Tq) backward: never T x T. Causal tiles above the diagonal are skipped. Forward tasks:
// (batch, head, query tile); backward: (batch, head), or (batch, head, key tile) when there are
// fewer pairs than threads. bf16: the tile products take bf16 copies of each task's rows and
// of P and dS (attention/tile_product.h). The autograd entries: softmax_attention_node.cpp.
#include "attention/softmax_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "attention/tile_product.h"
#include "engine/parallel.h"
#include "engine/simd_math.h"

namespace attn {
namespace {

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

// The query rows i0 .. i0 + rows of one (batch, head) that one forward task computes.
struct QueryTile {
  int64_t i0, rows, key_len;
  bool causal;
};

// Online softmax over one tile of scores S (rows x cols, row stride ldS; keys j0 ..): masks
// the keys a row may not see, then with the new running max m' = max(m, rowmax S) turns S
// into P = e^(S - m') in place, and rescales the running sum l and the output rows O (row
// stride orow) by e^(m - m'). The caller then adds P V_j to O.
void online_softmax_update(float* S, int64_t ldS, float* m, float* l, float* O, int64_t orow,
                           int64_t D, const QueryTile& tile, int64_t j0, int64_t cols) {
  for (int64_t r = 0; r < tile.rows; ++r) {
    float* s = S + r * ldS;
    const int64_t seen =
        std::clamp<int64_t>(visible_keys(tile.i0 + r, tile.key_len, tile.causal) - j0, 0, cols);
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
    float* o = O + r * orow;
    if (correction != 1.0f)
#pragma omp simd
      for (int64_t c = 0; c < D; ++c) o[c] *= correction;
  }
}

// The end of a query tile: O /= l, and lse = m + log l, the one statistic saved per row. A
// query with no visible key gets output 0 and lse +inf (so that P = 0 in the backward).
void finish_rows(float* O, float* L, const float* m, const float* l, int64_t orow, int64_t D,
                 int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    float* o = O + r * orow;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
    for (int64_t c = 0; c < D; ++c) o[c] *= inv;
    L[r] = l[r] > 0.0f ? m[r] + std::log(l[r]) : INFINITY;
  }
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
  // Tiles no larger than the sequence (the same tiles, so the same sums): short sequences then
  // allocate small buffers.
  const int64_t tile_q = std::min(options.tiles.fwd_q, d.Tq), tile_k = std::min(options.tiles.fwd_k, d.Tk);
  const bool half = options.bf16;
  ParallelErrors errors;  // allocation and oneDNN may throw inside the region
#pragma omp parallel
  {
    std::unique_ptr<float[]> S, m, l;  // uninitialised: every entry is written before it is read
    std::vector<bf16> P16, Q16, K16, V16;  // bf16: the tile P and this task's rows, rounded
    errors.capture([&] {
      S = std::make_unique_for_overwrite<float[]>(tile_q * tile_k);
      m = std::make_unique_for_overwrite<float[]>(tile_q);
      l = std::make_unique_for_overwrite<float[]>(tile_q);
      if (half) P16.resize(tile_q * tile_k);
    });
    // One task per (batch, head, query tile): query tiles are independent, so a machine with
    // more cores than B H pairs still uses them all. Causal: the longest rows (the last query
    // tiles, which see the most keys) are handed out first.
    const int64_t q_tiles = (d.Tq + tile_q - 1) / tile_q;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < d.B * d.H * q_tiles; ++task)
      errors.capture([&] {
        const int64_t bh = task / q_tiles, b = bh / d.H, h = bh % d.H;
        const int64_t key_len = key_length(options, b, d.Tk), orow = lay.out.row;
        const int64_t i0 = (q_tiles - 1 - task % q_tiles) * tile_q;
        const QueryTile tile{i0, std::min(tile_q, d.Tq - i0), key_len, options.causal};
        const int64_t key_end = visible_keys(i0 + tile.rows - 1, key_len, options.causal);
        const TileOperand Q = tile_operand(q + b * lay.q.batch + h * lay.q.head + i0 * lay.q.row,
                                           lay.q.row, tile.rows, d.D, half, Q16);
        const TileOperand K = tile_operand(k + b * lay.k.batch + h * lay.k.head, lay.k.row,
                                           key_end, d.D, half, K16);
        const TileOperand V = tile_operand(v + b * lay.v.batch + h * lay.v.head, lay.v.row,
                                           key_end, d.D, half, V16);
        float* O = out + b * lay.out.batch + h * lay.out.head + i0 * orow;  // this query tile
        std::fill_n(m.get(), tile.rows, -INFINITY);
        std::fill_n(l.get(), tile.rows, 0.0f);
        for (int64_t r = 0; r < tile.rows; ++r) std::fill_n(O + r * orow, d.D, 0.0f);
        for (int64_t j0 = 0; j0 < key_end; j0 += tile_k) {
          const int64_t cols = std::min(tile_k, key_end - j0);
          tile_product(tile.rows, cols, d.D, Q, false, K.row(j0), true, S.get(), tile_k, scale,
                       false);  // S = scale Q K_j^T
          online_softmax_update(S.get(), tile_k, m.get(), l.get(), O, orow, d.D, tile, j0, cols);
          if (half) round_rows(S.get(), tile_k, P16.data(), tile_k, tile.rows, cols);
          const TileOperand P{S.get(), tile_k, half ? P16.data() : nullptr, tile_k};
          tile_product(tile.rows, d.D, cols, P, false, V.row(j0), false, O, orow, 1.0f, true);
        }
        finish_rows(O, lse + bh * d.Tq + i0, m.get(), l.get(), orow, d.D, tile.rows);
      });
  }
  errors.rethrow();
}

namespace {

// One (batch, head) of the backward pass: its operands (float32 rows, and in bf16 their
// rounded copies), its gradients (null to skip; row strides qr, kr, vr) and the thread's tile
// buffers (row stride ld).
struct HeadBackward {
  TileOperand Q, K, V, dO;
  const float *L, *delta;
  float *dQ, *dK, *dV;
  int64_t qr, kr, vr, D, key_len, ld;
  bool causal;
  float scale;
  float *P, *dP;
  bf16 *P16, *dS16;  // null in float32
};

// P = e^(scale Q_i K_j^T - lse) for query rows i0.. and key columns j0.. (0 where masked):
// the probabilities recomputed from the saved lse instead of stored.
void recompute_probabilities(const HeadBackward& g, int64_t i0, int64_t rows, int64_t j0,
                             int64_t cols) {
  tile_product(rows, cols, g.D, g.Q.row(i0), false, g.K.row(j0), true, g.P, g.ld, g.scale, false);
  for (int64_t r = 0; r < rows; ++r) {
    float* p = g.P + r * g.ld;
    const int64_t seen = std::clamp<int64_t>(visible_keys(i0 + r, g.key_len, g.causal) - j0, 0, cols);
    const float row_lse = g.L[i0 + r];
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) p[c] = c < seen ? fast_exp(p[c] - row_lse) : 0.0f;
  }
  if (g.P16) round_rows(g.P, g.ld, g.P16, g.ld, rows, cols);
}

// One tile's gradient contributions (FlashAttention-2's backward, inner loop body):
//   dV_j += P^T dO_i;  dP = dO_i V_j^T;  dS = P * (dP - Delta);
//   dQ_i += scale dS K_j;  dK_j += scale dS^T Q_i
void backward_tile(const HeadBackward& g, int64_t i0, int64_t rows, int64_t j0, int64_t cols) {
  recompute_probabilities(g, i0, rows, j0, cols);
  const TileOperand P{g.P, g.ld, g.P16, g.ld}, dO = g.dO.row(i0);
  if (g.dV) tile_product(cols, g.D, rows, P, true, dO, false, g.dV + j0 * g.vr, g.vr, 1.0f, true);
  if (!g.dQ && !g.dK) return;
  tile_product(rows, cols, g.D, dO, false, g.V.row(j0), true, g.dP, g.ld, 1.0f, false);
  for (int64_t r = 0; r < rows; ++r) {  // dS = P * (dP - Delta), in place of dP
    float* ds = g.dP + r * g.ld;
    const float* p = g.P + r * g.ld;
    const float dl = g.delta[i0 + r];
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) ds[c] = p[c] * (ds[c] - dl);
  }
  if (g.dS16) round_rows(g.dP, g.ld, g.dS16, g.ld, rows, cols);
  const TileOperand dS{g.dP, g.ld, g.dS16, g.ld};
  if (g.dQ)
    tile_product(rows, g.D, cols, dS, false, g.K.row(j0), false, g.dQ + i0 * g.qr, g.qr, g.scale, true);
  if (g.dK)
    tile_product(cols, g.D, rows, dS, true, g.Q.row(i0), false, g.dK + j0 * g.kr, g.kr, g.scale, true);
}

// Delta_t = rowsum(dO * O) for the Tq rows of one head (= rowsum(dP * P), the softmax
// Jacobian's row term).
void row_deltas(float* delta, const float* dO, const float* O, int64_t Tq, int64_t D,
                int64_t orow) {
  for (int64_t t = 0; t < Tq; ++t) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < D; ++c) s += dO[t * orow + c] * O[t * orow + c];
    delta[t] = s;
  }
}

// dq += the sum over threads of their [B H Tq D] parts, in thread order; called by every
// thread of the team (a worksharing loop over rows, after the loop that filled the parts).
void add_thread_parts(float* dq, const std::vector<std::vector<float>>& parts,
                      const AttentionDims& d, const HeadLayout& lay) {
#pragma omp for schedule(static)
  for (int64_t row = 0; row < d.B * d.H * d.Tq; ++row) {
    const int64_t bh = row / d.Tq, t = row % d.Tq;
    float* out = dq + bh / d.H * lay.batch + bh % d.H * lay.head + t * lay.row;
    for (const auto& part : parts) {
      if (part.empty()) continue;  // a thread that failed to allocate (the error is rethrown)
      const float* p = part.data() + row * d.D;
#pragma omp simd
      for (int64_t c = 0; c < d.D; ++c) out[c] += p[c];
    }
  }
}

// The key tiles [first, last) of one head, each against every query tile that sees it.
void backward_key_tiles(const HeadBackward& g, int64_t Tq, int64_t tile_q, int64_t first,
                        int64_t last) {
  for (int64_t j0 = first * g.ld; j0 < std::min(last * g.ld, g.key_len); j0 += g.ld) {
    // In causal mode only queries at >= j0 see this key tile.
    const int64_t first_row = g.causal ? j0 / tile_q * tile_q : 0;
    for (int64_t i0 = first_row; i0 < Tq; i0 += tile_q) {
      const int64_t rows = std::min(tile_q, Tq - i0);
      // Causal: this query tile sees keys up to its last row; later columns are all zero.
      const int64_t cols = std::min(std::min(g.ld, g.key_len - j0),
                                    visible_keys(i0 + rows - 1, g.key_len, g.causal) - j0);
      backward_tile(g, i0, rows, j0, cols);
    }
  }
}

}  // namespace

// Tasks are (batch, head) pairs, key tiles outer: a thread owns dK, dV and dQ of its head.
// With fewer pairs than threads (B = 1 on a many-core laptop) each key tile is a task
// instead; dQ, which every key tile adds to, then goes to per-thread buffers summed in thread
// order after the loop (a static schedule keeps the sums, and the bits, fixed).
void softmax_attention_backward(float* dq, float* dk, float* dv, const float* d_out,
                                const float* out, const float* lse, const float* q,
                                const float* k, const float* v, const AttentionDims& d,
                                const AttentionLayouts& lay,
                                const SoftmaxAttentionOptions& options) {
  const int64_t tile_q = std::min(options.tiles.bwd_q, d.Tq), tile_k = std::min(options.tiles.bwd_k, d.Tk);
  const int64_t key_tiles = (d.Tk + tile_k - 1) / tile_k, team = threads();
  const bool half = options.bf16, split = dq && d.B * d.H < team && key_tiles > 1;
  const int64_t parts = split ? key_tiles : 1;  // tasks per (batch, head)
  std::vector<std::vector<float>> dq_parts(split ? team : 0);  // [B H Tq D] per thread
  ParallelErrors errors;  // allocation and oneDNN may throw inside the region
#pragma omp parallel num_threads(team)
  {
    std::unique_ptr<float[]> P, dP, delta;  // uninitialised: written before read
    std::vector<bf16> P16, dS16, Q16, K16, V16, dO16;  // bf16: tiles and this head's rows
    float* my_dq = nullptr;
    errors.capture([&] {
      P = std::make_unique_for_overwrite<float[]>(tile_q * tile_k);
      dP = std::make_unique_for_overwrite<float[]>(tile_q * tile_k);
      delta = std::make_unique_for_overwrite<float[]>(d.Tq);
      if (half) P16.resize(tile_q * tile_k), dS16.resize(tile_q * tile_k);
      if (split) my_dq = (dq_parts[omp_get_thread_num()] = std::vector<float>(d.B * d.H * d.Tq * d.D)).data();
    });
#pragma omp for schedule(static, 1)
    for (int64_t task = 0; task < d.B * d.H * parts; ++task)
      errors.capture([&] {
        const int64_t bh = task / parts, b = bh / d.H, h = bh % d.H;
        const int64_t key_len = key_length(options, b, d.Tk);
        const int64_t q_off = b * lay.q.batch + h * lay.q.head;
        const int64_t k_off = b * lay.k.batch + h * lay.k.head;
        const int64_t v_off = b * lay.v.batch + h * lay.v.head;
        const int64_t o_off = b * lay.out.batch + h * lay.out.head;
        float* dQ = split ? my_dq + bh * d.Tq * d.D : dq ? dq + q_off : nullptr;
        const HeadBackward g{
            tile_operand(q + q_off, lay.q.row, d.Tq, d.D, half, Q16),
            tile_operand(k + k_off, lay.k.row, key_len, d.D, half, K16),
            tile_operand(v + v_off, lay.v.row, key_len, d.D, half, V16),
            tile_operand(d_out + o_off, lay.out.row, d.Tq, d.D, half, dO16),
            lse + bh * d.Tq, delta.get(), dQ, dk ? dk + k_off : nullptr,
            dv ? dv + v_off : nullptr, split ? d.D : lay.q.row, lay.k.row, lay.v.row, d.D,
            key_len, tile_k, options.causal, scale_of(options, d.D), P.get(), dP.get(),
            half ? P16.data() : nullptr, half ? dS16.data() : nullptr};
        row_deltas(delta.get(), d_out + o_off, out + o_off, d.Tq, d.D, lay.out.row);
        const int64_t first = split ? task % parts : 0;
        backward_key_tiles(g, d.Tq, tile_q, first, split ? first + 1 : key_tiles);
      });
    if (split) add_thread_parts(dq, dq_parts, d, lay.q);
  }
  errors.rethrow();
}

}  // namespace attn
