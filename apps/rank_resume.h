// Resuming a data-parallel run with another number of ranks. A step's global batch is
// ranks x batch x grad-accum sequences; the run keeps it when the rank count changes by
// adapting --grad-accum (a run of 2 ranks x batch 8 resumes on 1 rank with --grad-accum 2,
// drawing the very same sequences), or it says exactly what cannot be kept.
#pragma once
#include <nlohmann/json.hpp>

#include "apps/run_options.h"
#include "nn/checkpoint.h"

namespace attn {

// The ranks that trained the checkpoint (1 for runs from before data-parallel training).
int64_t saved_ranks(const Checkpoint& ckpt);

// Adapts `saved` (the run's options JSON, holding "batch" and "grad_accum") to the current
// rank count. `given_grad_accum` is the command line's value; when the user typed
// --grad-accum (in start.given_fields) and the rank count changed, that value is taken and
// the message says how the global batch changes; "grad_accum" is then dropped from
// start.given_fields. Throws when the global batch cannot be kept and no --grad-accum was
// given. Rank 0 prints what changed.
void adapt_to_ranks(nlohmann::json& saved, const Checkpoint& ckpt, RunStart& start,
                    int64_t given_grad_accum, const std::string& command);

}  // namespace attn
