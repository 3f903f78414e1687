#include "apps/op_inspect.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <vector>

#include "attention/linear_attention.h"
#include "attention/linformer.h"
#include "attention/mixture_attention.h"
#include "attention/softmax_attention.h"
#include "attention/synthetic_attention.h"
#include "engine/npy.h"
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
         "  softmax    q k v [B,H,T,D]                     (--causal)\n"
         "  linear     q k v [B,H,T,D] (v may be [B,H,T,M]) (--causal, --chunk)\n"
         "  synthetic  logits [B or 1,H,T,T], v [B,H,T,D]  (--causal)\n"
         "  mixture    q k v [B,H,T,D], s [B or 1,H,T,T], alpha [1] (a = sigmoid(alpha))\n"
         "  linformer  q k v [B,H,T,D], e f [Kp,T] or [H,Kp,T]";
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
