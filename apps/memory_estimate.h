// How much memory a training run will need, estimated from its options before anything is
// allocated, and refused when the machine cannot hold it: `--width 65536` or `--batch
// 100000 --context 4096` get a message with the estimate and the machine's memory instead
// of a bare std::bad_alloc (or the kernel's OOM killer) minutes later.
//   parameters P (exact for the dense layers, an upper bound for the variants' own),
//   AdamW state and gradients: 4 P floats (5 P with a weight average),
//   activations kept for backward: about 16 B T C floats per layer (the tape's saved
//   inputs: q, k, v, attention output, layer norms, the MLP's 4C hidden twice), B T V for
//   the logits (three copies: logits, softmax, gradient), and B H T T per layer for the
//   variants that hold T x T weights (Synthesizers, mixtures).
// It errs on the generous side of what a run measures (bench_lm_step's peak memory).
#pragma once
#include <cstdint>
#include <string>

#include "nn/config.h"

namespace attn {

struct MemoryEstimate {
  double parameters = 0;  // count
  double bytes = 0;       // the whole run
};

// `batch` sequences of `length` tokens through `config`; `average` adds the weight average.
MemoryEstimate estimate_training_memory(const ModelConfig& config, int64_t batch, int64_t length,
                                        bool average);

// Memory the machine can give this process now (MemAvailable in /proc/meminfo, else the
// physical memory), in bytes.
uint64_t available_memory_bytes();

// The same for a model read from a checkpoint, only run (sample, eval, attention-map): its
// parameters (an upper bound for the variant's own) must fit, before it is built.
void check_model_fits(const ModelConfig& config, const std::string& source);

// Throws std::invalid_argument stating the estimate and the machine's memory when the run
// cannot fit; `command` names the subcommand in the message.
void check_training_fits(const ModelConfig& config, int64_t batch, int64_t length, bool average,
                         const std::string& command);

}  // namespace attn
