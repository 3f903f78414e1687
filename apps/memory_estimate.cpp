#include "apps/memory_estimate.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/files.h"
#include "nn/attention_registry.h"

namespace attn {

MemoryEstimate estimate_training_memory(const ModelConfig& c, int64_t batch, int64_t length,
                                        bool average) {
  const double V = static_cast<double>(c.vocab_size), L = static_cast<double>(c.context);
  const double C = static_cast<double>(c.n_embd), H = static_cast<double>(c.n_head);
  const double layers = static_cast<double>(c.n_layer), B = static_cast<double>(batch);
  const double T = static_cast<double>(length);
  bool quadratic = false;
  try {
    quadratic = find_attention_variant(parse_attention_spec(c.attention, c.causal, c.context).name)
                    .quadratic_memory;
  } catch (const std::exception&) {
    quadratic = true;  // the spec is checked elsewhere; estimate generously meanwhile
  }
  // Per block: two layer norms, q k v and output projections, the 4C MLP; the variants' own
  // parameters are at most a C x L map plus an H x L x L logit table (Synthesizers).
  const double block = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (8 * C * C + 5 * C) +
                       (quadratic ? C * L + H * L * L : 2 * L * C);
  MemoryEstimate e;
  e.parameters = V * C + L * C + layers * block + 2 * C + (c.tied ? 0 : V * C);
  const double state_floats = e.parameters * (average ? 5 : 4);
  const double activations = layers * (16 * B * T * C + (quadratic ? 3 * B * H * T * T : 0)) +
                             3 * B * T * V;
  e.bytes = 4 * (state_floats + activations);
  return e;
}

uint64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    unsigned long long kb = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %llu kB", &kb) == 1) return kb * 1024;
  }
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : UINT64_MAX;
}

void check_model_fits(const ModelConfig& config, const std::string& source) {
  const MemoryEstimate e = estimate_training_memory(config, 1, 1, false);
  const double bytes = 4 * e.parameters;
  const uint64_t available = available_memory_bytes();
  if (bytes > static_cast<double>(available))
    throw std::invalid_argument(source + ": its config asks for a model of up to " +
                                byte_count(static_cast<uint64_t>(std::min(bytes, 1.8e19))) +
                                " but the machine has " + byte_count(available) + " available");
}

void check_training_fits(const ModelConfig& config, int64_t batch, int64_t length, bool average,
                         const std::string& command) {
  const MemoryEstimate e = estimate_training_memory(config, batch, length, average);
  const uint64_t available = available_memory_bytes();
  if (e.bytes <= static_cast<double>(available)) return;
  char parameters[32];
  std::snprintf(parameters, sizeof parameters, "%.3g", e.parameters);
  throw std::invalid_argument(
      "attn " + command + ": this run needs about " + byte_count(static_cast<uint64_t>(std::min(e.bytes, 1.8e19))) +
      " (" + parameters + " parameters with their gradients and AdamW state, and the activations of " +
      std::to_string(batch) + " x " + std::to_string(length) + " tokens) but the machine has " +
      byte_count(available) + " available; use a smaller --batch, --context, --width or --layers");
}

}  // namespace attn
