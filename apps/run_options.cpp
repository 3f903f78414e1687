#include "apps/run_options.h"

#include "nn/json_input.h"

#include <map>
#include <stdexcept>

namespace attn {

const std::set<std::string>& resumable_fields() {
  static const std::set<std::string> fields = {
      "steps",         "threads",      "out",           "stop_after",
      "eval_interval", "eval_iters",   "log_interval",  "ckpt_interval",
      "keep_checkpoints", "precision"};
  return fields;
}

std::string option_field(const std::string& cli_name) {
  static const std::map<std::string, std::string> model = {
      {"--layers", "model.n_layer"},   {"--heads", "model.n_head"},
      {"--width", "model.n_embd"},     {"--context", "model.context"},
      {"--dropout", "model.dropout"},  {"--attention", "model.attention"},
      {"--tied", "model.tied"},        {"--train", "train_file"},
      {"--test", "test_file"}};
  auto it = model.find(cli_name);
  if (it != model.end()) return it->second;
  std::string field = cli_name.substr(cli_name.rfind("--", 0) == 0 ? 2 : 0);
  for (char& c : field)
    if (c == '-') c = '_';
  return field;
}

namespace {

const nlohmann::json* at_path(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json* node = &j;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot - start);
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

}  // namespace

nlohmann::json resume_options(const nlohmann::json& saved, const nlohmann::json& given,
                              const std::vector<std::string>& given_fields,
                              const std::vector<std::string>& spellings) {
  nlohmann::json out = saved;
  std::string refused;
  for (size_t i = 0; i < given_fields.size(); ++i) {
    const std::string& field = given_fields[i];
    const nlohmann::json *was = at_path(saved, field), *now = at_path(given, field);
    if (!was || !now) continue;  // not part of the saved run (--quiet, --resume, ...)
    if (resumable_fields().count(field)) {
      out[field] = *now;
      continue;
    }
    if (*was != *now)
      refused += (refused.empty() ? "" : ", ") + spellings[i] + " (the run has " + json_excerpt(*was) +
                 ", given " + json_excerpt(*now) + ")";
  }
  if (!refused.empty())
    throw std::invalid_argument(
        "--resume continues a run as it was started; these options cannot change: " + refused +
        ". Start a new run (with --init-from CHECKPOINT to begin from its weights) instead");
  return out;
}

}  // namespace attn
