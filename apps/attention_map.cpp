#include "apps/attention_map.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "apps/classify.h"
#include "apps/classify_data.h"
#include "apps/heatmap.h"
#include "apps/memory_estimate.h"
#include "apps/option_ranges.h"
#include "apps/tokenizer.h"
#include "engine/npy.h"
#include "nn/attention_registry.h"
#include "nn/checkpoint.h"
#include "nn/classifier.h"
#include "nn/transformer.h"

namespace attn {
namespace {

// The input of the maps: token ids, their axis labels and a line about what they are.
struct MapInput {
  std::vector<int32_t> ids;
  std::vector<std::string> labels;
  std::string about;
};

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

MapInput language_model_input(const Checkpoint& ckpt, const AttentionMapOptions& o) {
  MapInput in;
  if (!o.ids.empty()) {
    in.ids = parse_ids(o.ids, ckpt.config.vocab_size);
    for (int32_t id : in.ids) in.labels.push_back(std::to_string(id));
    return in;
  }
  const nlohmann::json& task = ckpt.extra.contains("task") ? ckpt.extra["task"] : nlohmann::json();
  if (!task.is_object() || task.value("kind", "") != "text")
    throw std::invalid_argument(o.checkpoint + ": the model was trained on a synthetic task; "
                                "give its input as --ids 1,2,3");
  if (o.text.empty()) throw std::invalid_argument("give --text (or --ids)");
  const Tokenizer tokenizer = Tokenizer::of_checkpoint(ckpt);
  in.ids = tokenizer.encode(o.text, "--text");
  for (int32_t id : in.ids) in.labels.push_back(axis_label(tokenizer.decode({id})));
  return in;
}

// A classifier's input: --ids, --text (encoded as its training data was) or test example N.
MapInput classifier_input(const ClassifyOptions& run, const ClassificationData& data,
                          const AttentionMapOptions& o) {
  MapInput in;
  const int32_t cls_token = run.pooling == "cls" ? static_cast<int32_t>(data.vocab) : -1;
  if (cls_token >= 0) in.ids.push_back(cls_token);
  if (!o.ids.empty()) {
    for (int32_t id : parse_ids(o.ids, data.vocab)) in.ids.push_back(id);
  } else if (!o.text.empty()) {
    for (int32_t id : encode_classify_text(data, run, o.text)) in.ids.push_back(id);
  } else {
    const auto count = static_cast<int64_t>(data.test.tokens.size());
    if (o.example < 0 || o.example >= count)
      throw std::invalid_argument("--example " + std::to_string(o.example) + " is outside the " +
                                  std::to_string(count) + " test examples [0, " +
                                  std::to_string(count) + ")");
    const auto& tokens = data.test.tokens[static_cast<size_t>(o.example)];
    in.ids.insert(in.ids.end(), tokens.begin(), tokens.end());
    in.about = "test example " + std::to_string(o.example) + " (label " +
               std::to_string(data.test.labels[static_cast<size_t>(o.example)]) + ")";
  }
  for (int32_t id : in.ids)
    in.labels.push_back(id == cls_token ? "<cls>" : axis_label(data.token_names.at(id)));
  return in;
}

// Checks that the input fits the model and that every row of every map sums to 1; writes
// layer<N>.png and layer<N>.npy; returns the worst row-sum error.
double write_maps(const std::vector<Tensor>& maps, const MapInput& in, const ModelConfig& config,
                  const AttentionMapOptions& o) {
  const auto T = static_cast<int64_t>(in.ids.size());
  const std::string columns = find_attention_variant(parse_attention_spec(
      config.attention, config.causal, config.context).name).map_columns;
  double worst_row_error = 0;
  for (size_t layer = 0; layer < maps.size(); ++layer) {
    const Tensor& w = maps[layer];  // [1, H, T, K]
    const int64_t H = w.size(1), K = w.size(3);
    HeatmapFigure figure;
    figure.title = "layer " + std::to_string(layer) + ": " + config.attention +
                   " attention; rows: queries, columns: " + columns;
    figure.row_labels = in.labels;
    if (K == T && columns == "keys") figure.col_labels = in.labels;
    figure.cell = o.cell > 0 ? o.cell : static_cast<int>(std::clamp<int64_t>(384 / T, 1, 24));
    for (int64_t h = 0; h < H; ++h) {
      Heatmap m{"head " + std::to_string(h), T, K, {}};
      m.values.assign(w.data() + h * T * K, w.data() + (h + 1) * T * K);
      for (int64_t i = 0; i < T; ++i) {
        double total = 0;
        for (int64_t j = 0; j < K; ++j) total += m.values[i * K + j];
        worst_row_error = std::max(worst_row_error, std::abs(total - 1.0));
      }
      figure.panels.push_back(std::move(m));
    }
    const std::string base = o.out + "/layer" + std::to_string(layer);
    write_heatmaps(figure, base + ".png");
    save_npy(base + ".npy", reshape(w, {H, T, K}));
  }
  return worst_row_error;
}

void check_length(int64_t T, int64_t context) {
  if (T < 1 || T > context)
    throw std::invalid_argument("the input has " + std::to_string(T) + " tokens; the model takes 1.." +
                                std::to_string(context));
}

}  // namespace

int run_attention_map(const AttentionMapOptions& o) {
  if (o.cell < 0 || o.cell > 64)
    throw std::invalid_argument("--cell " + std::to_string(o.cell) + " is outside 0..64");
  const Checkpoint ckpt = read_checkpoint(o.checkpoint);
  check_model_fits(ckpt.config, ckpt.path);
  const nlohmann::json* task = ckpt.extra.contains("task") ? &ckpt.extra["task"] : nullptr;
  MapInput in;
  std::vector<Tensor> maps;
  if (task && task->is_object() && task->value("kind", "") == "classify") {
    ClassifyOptions run = saved_run_options<ClassifyOptions>(ckpt);
    const ClassificationData data = load_classification_data(run);
    EncoderClassifier model(ckpt.config, data.classes, run.pooling, 0);
    load_evaluation_weights(ckpt, model.arena());
    in = classifier_input(run, data, o);
    check_length(static_cast<int64_t>(in.ids.size()), ckpt.config.context);
    maps = model.attention_weights({{1, static_cast<int64_t>(in.ids.size())}, in.ids});
  } else {
    LanguageModel model(ckpt.config, 0);
    load_evaluation_weights(ckpt, model.arena());
    in = language_model_input(ckpt, o);
    check_length(static_cast<int64_t>(in.ids.size()), ckpt.config.context);
    maps = model.attention_weights({{1, static_cast<int64_t>(in.ids.size())}, in.ids});
  }
  std::filesystem::create_directories(o.out);
  const double worst_row_error = write_maps(maps, in, ckpt.config, o);
  std::printf("attn attention-map: %s attention, %zu layers x %lld heads, T = %lld%s%s -> "
              "%s/layer*.png (rows sum to 1 within %.1e)\n", ckpt.config.attention.c_str(),
              maps.size(), static_cast<long long>(ckpt.config.n_head),
              static_cast<long long>(in.ids.size()), in.about.empty() ? "" : ", ",
              in.about.c_str(), o.out.c_str(), worst_row_error);
  return 0;
}

}  // namespace attn
