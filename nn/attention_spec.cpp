#include "nn/attention_spec.h"

#include <sstream>
#include <stdexcept>

#include "nn/attention_registry.h"

namespace attn {

void AttentionSpec::fail(const std::string& why) const {
  throw std::invalid_argument("attention '" + text + "': " + why);
}

int64_t AttentionSpec::integer(const std::string& key, int64_t fallback) const {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  try {
    size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    if (used == it->second.size() && v >= 1) return v;
  } catch (const std::exception&) {
  }
  fail(key + " must be a positive integer, got '" + it->second + "'");
}

std::string AttentionSpec::word(const std::string& key, const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

AttentionSpec parse_attention_spec(const std::string& text, bool causal, int64_t L) {
  AttentionSpec spec;
  spec.text = text;
  const auto colon = text.find(':');
  spec.name = text.substr(0, colon);
  const AttentionVariantEntry& entry = find_attention_variant(spec.name);
  if (colon != std::string::npos) {
    std::stringstream items(text.substr(colon + 1));
    std::string item;
    while (std::getline(items, item, ',')) {
      const auto eq = item.find('=');
      if (eq == std::string::npos) spec.fail("option '" + item + "' is not key=value");
      const std::string key = item.substr(0, eq);
      bool known = false;
      for (const auto& k : entry.options) known |= k == key;
      if (!known) spec.fail("unknown option '" + key + "' for " + spec.name);
      spec.options[key] = item.substr(eq + 1);
    }
  }
  if (causal && !entry.causal)
    spec.fail(spec.name + " cannot be causal: " + entry.why_not_causal);
  if (entry.validate) entry.validate(spec, L);
  return spec;
}

}  // namespace attn
