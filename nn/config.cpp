#include "nn/config.h"

#include <stdexcept>

namespace attn {

void ModelConfig::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("model config: " + what);
  };
  need(vocab_size > 0, "vocab_size must be positive, got " + std::to_string(vocab_size));
  need(context > 0, "context must be positive, got " + std::to_string(context));
  need(n_layer > 0, "n_layer must be positive, got " + std::to_string(n_layer));
  need(n_head > 0, "n_head must be positive, got " + std::to_string(n_head));
  need(n_embd > 0 && n_embd % n_head == 0,
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
  j.at("vocab_size").get_to(c.vocab_size);
  j.at("context").get_to(c.context);
  j.at("n_layer").get_to(c.n_layer);
  j.at("n_head").get_to(c.n_head);
  j.at("n_embd").get_to(c.n_embd);
  j.at("dropout").get_to(c.dropout);
  j.at("tied").get_to(c.tied);
  j.at("causal").get_to(c.causal);
  j.at("attention").get_to(c.attention);
}

}  // namespace attn
