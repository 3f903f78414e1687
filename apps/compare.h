// `attn compare`: trains every chosen attention variant on one task with the same budget,
// data and seed, then prints one table (final loss, accuracy, ms/step, tokens/s, parameters,
// peak memory, wall time) and writes <out>/compare.json and <out>/loss.png (loss curves).
#pragma once
#include <string>
#include <vector>

#include "apps/classify.h"
#include "apps/train_lm.h"

namespace attn {

struct CompareOptions {
  std::string task = "copy";  // copy | recall (causal LM) or listops | csv (encoder classifier)
  std::string attention = "all";
  std::string out = "runs/compare";
  TrainOptions lm;       // used for copy and recall (its model, batch, steps, lr, seed, ...)
  ClassifyOptions cls;   // used for listops and csv
};

// "softmax,linformer:k=64,share=kv,linear" -> {"softmax", "linformer:k=64,share=kv", "linear"}:
// an item with '=' but no ':' continues the previous variant's options. "all" expands to every
// variant the task allows (no Linformer for causal tasks).
std::vector<std::string> split_variant_list(const std::string& list, bool causal);

int run_compare(CompareOptions options);

}  // namespace attn
