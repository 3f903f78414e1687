#include "nn/config.h"

#include <stdexcept>

namespace attn {

void ModelConfig::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("model config: " + what);
  };
  // The same ceilings as the command line's (apps/option_ranges.cpp), so that a config read
  // from a file cannot ask for more than a typed one.
  auto within = [&](int64_t v, int64_t hi, const char* name) {
    need(v > 0 && v <= hi, std::string(name) + " must be in [1, " + std::to_string(hi) + "], got " +
                               std::to_string(v));
  };
  within(vocab_size, kMaxVocab, "vocab_size");
  within(context, kMaxContext, "context");
  within(n_layer, kMaxLayers, "n_layer");
  within(n_head, kMaxHeads, "n_head");
  within(n_embd, kMaxWidth, "n_embd");
  need(n_embd % n_head == 0,
       "n_embd (" + std::to_string(n_embd) + ") must be a positive multiple of n_head (" +
           std::to_string(n_head) + ")");
  need(dropout >= 0.0f && dropout < 1.0f, "dropout must be in [0, 1), got " + std::to_string(dropout));
}

void to_json(nlohmann::json& j, const ModelConfig& c) {
  j = nlohmann::json{{"vocab_size", c.vocab_size}, {"context", c.context},
                     {"n_layer", c.n_layer},       {"n_head", c.n_head},
                     {"n_embd", c.n_embd},         {"dropout", c.dropout},
                     {"tied", c.tied},             {"causal", c.causal},
                     {"attention", c.attention}};
}

void from_json(const nlohmann::json& j, ModelConfig& c) {
  auto integer = [&](const char* key) {  // get<int64_t> of 1e300 would be undefined
    const auto& v = j.at(key);
    if (!v.is_number_integer())
      throw std::invalid_argument(std::string("model config: ") + key + " is not an integer");
    return v.get<int64_t>();
  };
  c.vocab_size = integer("vocab_size");
  c.context = integer("context");
  c.n_layer = integer("n_layer");
  c.n_head = integer("n_head");
  c.n_embd = integer("n_embd");
  if (!j.at("dropout").is_number()) throw std::invalid_argument("model config: dropout is not a number");
  j.at("dropout").get_to(c.dropout);
  j.at("tied").get_to(c.tied);
  j.at("causal").get_to(c.causal);
  j.at("attention").get_to(c.attention);
}

}  // namespace attn
