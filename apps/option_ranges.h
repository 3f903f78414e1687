// The valid range of every numeric option of every subcommand, in one table, checked by CLI11
// as each option is parsed: before any file is read or anything is allocated. The ranges are
// shown in --help ("INT:[1, 1024]"); a value outside is refused with the option's name, e.g.
// "--eval-interval: 0 is outside [1, 1000000000000]". Absurd-but-in-range sizes (a width and
// context that do not fit in memory) are refused later by the memory estimate (apps/memory_estimate.h).
#pragma once
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "nn/checkpoint.h"

namespace attn {

// Attaches its range to every numeric option of every subcommand of `app`; throws
// std::logic_error naming an option that has no range in the table (a programming error,
// caught by the CLI tests).
void apply_option_ranges(CLI::App& app);

// The options a run saved in its checkpoint (extra "options"), checked against the same
// table: an object whose numeric fields are numbers within their option's range, so that a
// file cannot ask for what the command line refuses. Throws naming the file and the field.
const nlohmann::json& checked_saved_options(const Checkpoint& ckpt);

// The saved options as an options struct (TrainOptions, ClassifyOptions).
template <class Options>
Options saved_run_options(const Checkpoint& ckpt) {
  const nlohmann::json& saved = checked_saved_options(ckpt);
  try {
    return saved.get<Options>();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(ckpt.path + ": the run's saved options: " + e.what());
  }
}

}  // namespace attn
