// `attn attention-map`: what each head of a trained model attends to. Runs the checkpoint on
// one input and writes, per layer, a PNG with one heatmap per head (row i: query token i,
// column j: key token j, both labelled with the tokens; one colour scale) and the weights
// themselves as layer<N>.npy [H, T, T or k].
//   language models: --text (models trained on text) or --ids 3,1,4 (synthetic tasks);
//   classifiers (attn classify): --example N of the run's test set, or --text / --ids.
// For linear attention the map is the implied normalised phi(q) phi(k)^T; for Linformer it is
// T x k (queries against the k projected keys).
#pragma once
#include <cstdint>
#include <string>

namespace attn {

struct AttentionMapOptions {
  std::string checkpoint, text, ids;  // ids: "3,1,4,1,5"
  int64_t example = 0;                // classifiers: this test example when no text or ids
  std::string out = "runs/attention-map";
  int cell = 0;  // pixels per weight (1..64); 0: chosen from T
};

int run_attention_map(const AttentionMapOptions& options);

}  // namespace attn
