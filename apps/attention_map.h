// `attn attention-map`: what each head of a trained language model attends to. Runs the
// checkpoint on a text (or, for synthetic-task models, a list of token ids) and writes, per
// layer, a PNG with one heatmap per head (row i: query position i, column j: key position j;
// darker = more weight) and the weights themselves as layer<N>.npy [H, T, T or k].
// For linear attention the map is the implied normalised phi(q) phi(k)^T; for Linformer it is
// T x k (queries against the k projected keys).
#pragma once
#include <string>

namespace attn {

struct AttentionMapOptions {
  std::string checkpoint, text, ids;  // ids: "3,1,4,1,5" for models of synthetic tasks
  std::string out = "runs/attention-map";
  int cell = 0;  // pixels per weight; 0: chosen from T
};

int run_attention_map(const AttentionMapOptions& options);

}  // namespace attn
