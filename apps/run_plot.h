// `attn plot RUN_DIR`: the curves of one run from its metrics.jsonl, as PNGs a person would
// rather look at than read: loss.png (training loss at every logged step, held-out loss at
// every evaluation) and, for tasks that score one, accuracy.png. The trainer also draws them
// when a run stops.
#pragma once
#include <string>
#include <vector>

namespace attn {

// Returns the files written; throws naming the file and line when metrics.jsonl is missing
// or damaged.
std::vector<std::string> plot_run(const std::string& run_dir);

}  // namespace attn
