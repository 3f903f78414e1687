// `attn bench`: every chosen attention variant, forward and forward+backward, over a range of
// sequence lengths T at the given B, H, D. Measures the whole attention layer as a model uses
// it (input projection, the variant, output projection) with L = T, so variants compare on
// equal terms. Prints a table, writes <out>/bench.jsonl (one JSON line per measurement) and
// log-log plots <out>/time.png and <out>/memory.png against T.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace attn {

struct OperatorBenchOptions {
  std::string attention = "all";
  std::vector<int64_t> lengths = {256, 512, 1024, 2048, 4096};
  int64_t batch = 1, heads = 4, head_dim = 64;
  bool causal = false;
  int repeats = 5;        // timed runs per measurement (the median is reported), after a warm-up
  double max_mb = 4096;   // skip a configuration whose T x T tensors would need more than this
  int threads = 0;
  std::string precision = "fp32";  // or "bf16": the layer's projections (engine/bf16.h)
  uint64_t seed = 1;
  std::string out = "runs/bench";
};

int run_operator_bench(const OperatorBenchOptions& options);

}  // namespace attn
