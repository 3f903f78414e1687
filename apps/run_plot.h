// `attn plot RUN_DIR`: the curves of one run from its metrics.jsonl, as PNGs a person would
// rather look at than read: loss.png (training loss at every logged step, held-out loss at
// every evaluation) and, for tasks that score one, accuracy.png. The trainer also draws them
// when a run stops.
#pragma once
#include <string>
#include <vector>

#include "apps/plot.h"

namespace attn {

// A run's curves from its metrics.jsonl (throws naming the file and line when missing or
// damaged).
struct RunCurves {
  Series train, held_out, accuracy;
};
RunCurves read_run_curves(const std::string& run_dir);

// Returns the files written; throws naming the file and line when metrics.jsonl is missing
// or damaged.
std::vector<std::string> plot_run(const std::string& run_dir);

// `attn plot RUN_A RUN_B ... --out FILE`: the loss curves of several runs in one PNG (e.g.
// fp32 against bf16), each series named after its run folder.
void plot_runs(const std::vector<std::string>& run_dirs, const std::string& out);

// The plot subcommand: one run without --out draws its own PNGs, several runs need --out.
int run_plot_command(const std::vector<std::string>& run_dirs, const std::string& out);

}  // namespace attn
