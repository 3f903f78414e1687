#include "apps/op_inspect.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <vector>

#include "attention/factorized_dense.h"
#include "attention/linear_attention.h"
#include "attention/linformer.h"
#include "attention/mixture_attention.h"
#include "attention/softmax_attention.h"
#include "attention/synthetic_attention.h"
#include "engine/check.h"
#include "engine/npy.h"
#include "engine/ops.h"
#include "engine/tape.h"

namespace attn {
namespace {

struct OpSpec {
  std::vector<std::string> inputs;  // files read from --in (each <name>.npy); all get gradients
  std::function<Tensor(std::map<std::string, Tensor>&, const OpOptions&)> run;
};

// `attn op linformer` takes projections with exactly T columns (the file documents [Kp, T]).
Tensor project_sequence(const Tensor& P, const Tensor& keys) {
  if (P.size(-1) != keys.size(2))
    throw std::invalid_argument("linformer: projection " + to_string(P.shape()) +
                                " must have T = " + std::to_string(keys.size(2)) + " columns");
  return linformer_project(P, keys);
}

// Dense Synthesizer logits (nn/variants/synth_dense.cpp, composed from engine ops):
// rows = relu(x w1 + b1) w2 + b2, [B, T, H L] -> the first T of each head's L -> [B, H, T, T].
Tensor dense_synthesizer_logits(std::map<std::string, Tensor>& t) {
  const Tensor &x = t["x"], &w2 = t["w2"];
  const int64_t B = x.size(0), T = x.size(1), H = t["v"].size(1);
  if (w2.size(1) % H != 0 || w2.size(1) / H < T)
    arg_error("synth-dense", "w2 " + to_string(w2.shape()) + " must have H L columns with L >= "
              "T = " + std::to_string(T) + " (H = " + std::to_string(H) + " from v)");
  const int64_t L = w2.size(1) / H;
  Tensor rows = linear(relu(linear(x, t["w1"], t["b1"])), w2, t["b2"]);
  return permute(slice(reshape(rows, {B, T, H, L}), 3, 0, T), {0, 2, 1, 3});
}

// Factorized Random Synthesizer logits (nn/variants/synth_fact_random.cpp): r1, r2 [H, L, r]
// -> R = r1[:, :T] r2[:, :T]^T as [1, H, T, T], shared by the batch.
Tensor factorized_random_logits(std::map<std::string, Tensor>& t) {
  const int64_t T = t["v"].size(2), H = t["r1"].size(0);
  if (t["r1"].shape() != t["r2"].shape() || t["r1"].size(1) < T)
    arg_error("synth-fact-random", "r1 " + to_string(t["r1"].shape()) + " and r2 " +
              to_string(t["r2"].shape()) + " must both be [H, L, r] with L >= T = " +
              std::to_string(T));
  Tensor R = matmul(slice(t["r1"], 1, 0, T), slice(t["r2"], 1, 0, T), false, true);
  return reshape(R, {1, H, T, T});
}

const std::map<std::string, OpSpec>& operators() {
  static const std::map<std::string, OpSpec> ops = {
      {"softmax",
       {{"q", "k", "v"},
        [](auto& t, const OpOptions& o) {
          SoftmaxAttentionOptions s;
          s.causal = o.causal;
          return softmax_attention(t["q"], t["k"], t["v"], s);
        }}},
      {"linear",
       {{"q", "k", "v"},
        [](auto& t, const OpOptions& o) {
          LinearAttentionOptions l;
          l.causal = o.causal;
          l.chunk = o.chunk;
          return linear_attention(t["q"], t["k"], t["v"], l);
        }}},
      {"synthetic",
       {{"logits", "v"},
        [](auto& t, const OpOptions& o) { return synthetic_attention(t["logits"], t["v"], o.causal); }}},
      {"synth-dense",
       {{"x", "w1", "b1", "w2", "b2", "v"},
        [](auto& t, const OpOptions& o) {
          return synthetic_attention(dense_synthesizer_logits(t), t["v"], o.causal);
        }}},
      {"synth-fact-dense",
       {{"a", "b", "v"},
        [](auto& t, const OpOptions& o) {
          return synthetic_attention(factorized_dense_logits(t["a"], t["b"]), t["v"], o.causal);
        }}},
      {"synth-fact-random",
       {{"r1", "r2", "v"},
        [](auto& t, const OpOptions& o) {
          return synthetic_attention(factorized_random_logits(t), t["v"], o.causal);
        }}},
      {"mixture",
       {{"q", "k", "v", "s", "alpha"},
        [](auto& t, const OpOptions& o) {
          // softmax((1 - a) q k^T / sqrt(D) + a s) v,  a = sigmoid(alpha): one fused node
          MixtureAttentionOptions m;
          m.causal = o.causal;
          return mixture_attention(t["q"], t["k"], t["v"], t["s"], sigmoid(t["alpha"]), m);
        }}},
      {"linformer",
       {{"q", "k", "v", "e", "f"},
        [](auto& t, const OpOptions& o) {
          if (o.causal) throw std::invalid_argument("linformer cannot be causal");
          return softmax_attention(t["q"], project_sequence(t["e"], t["k"]),
                                   project_sequence(t["f"], t["v"]));
        }}},
  };
  return ops;
}

}  // namespace

std::string op_help() {
  return "Operators and their files (in --in: <name>.npy float32, plus dout.npy, the upstream\n"
         "gradient, shaped like the output; written to --out: out.npy and d<name>.npy):\n"
         "  softmax            q k v [B,H,T,D]; without --causal k, v may be [B,H,Tk,D]\n"
         "  linear             q k v [B,H,T,D], v may be [B,H,T,M] (--causal, --chunk)\n"
         "  synthetic          logits [B or 1,H,T,T], v [B,H,T,D] (--causal)\n"
         "  synth-dense        x [B,T,C], w1 [C,C], b1 [C], w2 [C,H L], b2 [H L], v [B,H,T,D]:\n"
         "                     logits relu(x w1 + b1) w2 + b2, the first T of L per head\n"
         "  synth-fact-dense   a [B,T,H,a], b [B,T,H,b] (a b >= T), v: S[i,j] = a[i,j mod a] b[i,j div a]\n"
         "  synth-fact-random  r1 r2 [H,L,r] (L >= T), v: logits r1[:,:T] r2[:,:T]^T, shared by the batch\n"
         "  mixture            q k v [B,H,T,D], s [B or 1,H,T,T], alpha [1] (a = sigmoid(alpha))\n"
         "  linformer          q k v [B,H,T,D], e f [Kp,T] or [H,Kp,T] (not causal)\n"
         "Every synthesizer operator takes --causal.";
}

int run_op(const OpOptions& o) {
  const auto& ops = operators();
  auto it = ops.find(o.name);
  if (it == ops.end()) throw std::invalid_argument("unknown operator '" + o.name + "'\n" + op_help());
  std::map<std::string, Tensor> tensors;
  for (const auto& name : it->second.inputs)
    tensors[name] = load_npy(o.in_dir + "/" + name + ".npy").requires_grad_();
  const Tensor d_out = load_npy(o.in_dir + "/dout.npy");
  Tensor out = it->second.run(tensors, o);
  if (d_out.shape() != out.shape())
    throw std::invalid_argument("dout.npy has shape " + to_string(d_out.shape()) +
                                " but the output is " + to_string(out.shape()));
  backward(out, d_out);
  std::filesystem::create_directories(o.out_dir);
  save_npy(o.out_dir + "/out.npy", out);
  std::printf("wrote %s/out.npy %s\n", o.out_dir.c_str(), to_string(out.shape()).c_str());
  for (auto& [name, t] : tensors) {
    const Tensor g = t.has_grad() ? t.grad() : Tensor::zeros(t.shape());
    save_npy(o.out_dir + "/d" + name + ".npy", g);
    std::printf("wrote %s/d%s.npy %s\n", o.out_dir.c_str(), name.c_str(), to_string(g.shape()).c_str());
  }
  return 0;
}

}  // namespace attn
