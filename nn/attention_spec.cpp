#include "nn/attention_spec.h"

#include <sstream>
#include <stdexcept>

namespace attn {

std::vector<std::string> attention_variant_names() {
  return {"softmax",           "linear",           "linformer",
          "synth-dense",       "synth-random",     "synth-random-fixed",
          "synth-fact-random", "synth-fact-dense", "synth-random+softmax",
          "synth-dense+softmax"};
}

bool AttentionSpec::uses_dot_product() const {
  return name == "softmax" || name == "linear" || name == "linformer" ||
         name.find("+softmax") != std::string::npos;
}

bool AttentionSpec::is_synthesizer() const { return name.rfind("synth-", 0) == 0; }

AttentionSpec parse_attention_spec(const std::string& text, bool causal, int64_t L) {
  AttentionSpec spec;
  const auto colon = text.find(':');
  spec.name = text.substr(0, colon);
  bool known = false;
  std::string names;
  for (const auto& n : attention_variant_names()) {
    known |= n == spec.name;
    names += (names.empty() ? "" : ", ") + n;
  }
  if (!known)
    throw std::invalid_argument("unknown attention variant '" + spec.name + "' (known: " + names + ")");
  auto error = [&](const std::string& why) {
    return std::invalid_argument("attention '" + text + "': " + why);
  };
  auto bad = [&](const std::string& why) { throw error(why); };
  if (colon != std::string::npos) {
    std::stringstream options(text.substr(colon + 1));
    std::string item;
    while (std::getline(options, item, ',')) {
      const auto eq = item.find('=');
      if (eq == std::string::npos) bad("option '" + item + "' is not key=value");
      const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
      auto number = [&]() -> int64_t {
        try {
          size_t used = 0;
          const long long v = std::stoll(value, &used);
          if (used != value.size() || v < 1) throw std::invalid_argument("");
          return v;
        } catch (const std::exception&) {
          throw error(key + " must be a positive integer, got '" + value + "'");
        }
      };
      if (key == "chunk" && spec.name == "linear") spec.chunk = number();
      else if (key == "k" && spec.name == "linformer") spec.k = number();
      else if (key == "share" && spec.name == "linformer") spec.share = value;
      else if (key == "r" && spec.name == "synth-fact-random") spec.r = number();
      else if (key == "a" && spec.name == "synth-fact-dense") spec.a = number();
      else bad("unknown option '" + key + "' for " + spec.name);
    }
  }
  if (spec.name == "linformer") {
    if (causal)
      bad("Linformer projects keys along the sequence, mixing future positions into every "
          "projected key, so it cannot be causal (use it in encoders, not language models)");
    if (spec.share != "none" && spec.share != "headwise" && spec.share != "kv" &&
        spec.share != "layerwise")
      bad("share must be none, headwise, kv or layerwise, got '" + spec.share + "'");
    if (spec.k > L) bad("k = " + std::to_string(spec.k) + " exceeds the maximum length " + std::to_string(L));
  }
  if (spec.name == "synth-fact-dense" && spec.a > L) bad("a exceeds the maximum length");
  return spec;
}

}  // namespace attn
