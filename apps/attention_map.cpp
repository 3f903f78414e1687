#include "apps/attention_map.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "apps/plot.h"
#include "apps/tokenizer.h"
#include "engine/npy.h"
#include "nn/checkpoint.h"
#include "nn/transformer.h"

namespace attn {
namespace {

std::vector<int32_t> parse_ids(const std::string& list, int64_t vocab) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start < list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    size_t used = 0;
    long value = -1;
    try {
      value = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || value < 0 || value >= vocab)
      throw std::invalid_argument("--ids: '" + item + "' is not a token id in [0, " +
                                  std::to_string(vocab) + ")");
    ids.push_back(static_cast<int32_t>(value));
    start = comma + 1;
  }
  return ids;
}

}  // namespace

int run_attention_map(const AttentionMapOptions& o) {
  const Checkpoint ckpt = read_checkpoint(o.checkpoint);
  LanguageModel model(ckpt.config, 0);
  load_parameters(ckpt, model.arena());
  std::vector<int32_t> ids;
  if (!o.ids.empty()) {
    ids = parse_ids(o.ids, ckpt.config.vocab_size);
  } else {
    const auto& task = ckpt.extra.at("task");
    if (task.value("kind", "") != "text")
      throw std::invalid_argument(o.checkpoint + ": the model was trained on a synthetic task; "
                                  "give its input as --ids 1,2,3");
    if (o.text.empty()) throw std::invalid_argument("give --text (or --ids)");
    ids = Tokenizer::from_json(task.at("tokenizer")).encode(o.text, "--text");
  }
  const auto T = static_cast<int64_t>(ids.size());
  if (T < 1 || T > ckpt.config.context)
    throw std::invalid_argument("the input has " + std::to_string(T) + " tokens; the model takes 1.." +
                                std::to_string(ckpt.config.context));
  const auto maps = model.attention_weights({{1, T}, ids});
  std::filesystem::create_directories(o.out);
  const int cell = o.cell > 0 ? o.cell : static_cast<int>(std::clamp<int64_t>(384 / T, 1, 24));
  double worst_row_error = 0;
  for (size_t layer = 0; layer < maps.size(); ++layer) {
    const Tensor& w = maps[layer];  // [1, H, T, K]
    const int64_t H = w.size(1), K = w.size(3);
    std::vector<Heatmap> heads;
    for (int64_t h = 0; h < H; ++h) {
      Heatmap m{"layer " + std::to_string(layer) + " head " + std::to_string(h), T, K, {}};
      m.values.assign(w.data() + h * T * K, w.data() + (h + 1) * T * K);
      for (int64_t i = 0; i < T; ++i) {
        double total = 0;
        for (int64_t j = 0; j < K; ++j) total += m.values[i * K + j];
        worst_row_error = std::max(worst_row_error, std::abs(total - 1.0));
      }
      heads.push_back(std::move(m));
    }
    const std::string base = o.out + "/layer" + std::to_string(layer);
    write_heatmaps(heads, cell, base + ".png");
    save_npy(base + ".npy", reshape(w, {H, T, K}));
  }
  std::printf("attn attention-map: %s attention, %zu layers x %lld heads, T = %lld -> %s/layer*.png "
              "(rows sum to 1 within %.1e)\n", ckpt.config.attention.c_str(), maps.size(),
              static_cast<long long>(ckpt.config.n_head), static_cast<long long>(T), o.out.c_str(),
              worst_row_error);
  return 0;
}

}  // namespace attn
