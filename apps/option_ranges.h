// The valid range of every numeric option of every subcommand, in one table, checked by CLI11
// as each option is parsed: before any file is read or anything is allocated. The ranges are
// shown in --help ("INT:[1, 1024]"); a value outside is refused with the option's name, e.g.
// "--eval-interval: 0 is outside [1, 1000000000000]". Absurd-but-in-range sizes (a width and
// context that do not fit in memory) are refused later by the memory estimate (apps/memory_estimate.h).
#pragma once
#include <CLI/CLI.hpp>

namespace attn {

// Attaches its range to every numeric option of every subcommand of `app`; throws
// std::logic_error naming an option that has no range in the table (a programming error,
// caught by the CLI tests).
void apply_option_ranges(CLI::App& app);

}  // namespace attn
