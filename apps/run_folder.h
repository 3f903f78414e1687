// A run folder (--out): checkpoint.safetensors, numbered copies, config.json, metrics.jsonl.
// Every file attn writes there is created exclusively and renamed into place (engine/files.h),
// so a symlink planted in the folder is never followed.
#pragma once
#include <cstdint>
#include <string>

#include "nn/checkpoint.h"

namespace attn {

// The run folder's checkpoint.
std::string checkpoint_path(const std::string& out);
// The checkpoint of the run to resume in `out`; when there is none, says which file is
// missing and how to start a run (`command` is the subcommand, e.g. "train").
Checkpoint read_run_checkpoint(const std::string& out, const std::string& command);

// Creates the folder, or refuses one that already holds a run (unless resuming), that is not
// writable, or that has no room for the checkpoints, before any training work is done.
void prepare_run_folder(const std::string& out, bool resume, int64_t parameters, int64_t keep_checkpoints);

// Besides the latest checkpoint, keeps numbered copies (hard links) of the last `keep` saves.
void keep_numbered_copies(const std::string& out, int64_t step, int64_t keep);

// Opens a log the run appends lines to (metrics.jsonl), refusing a symlink at its name;
// truncated first unless `append`.
FILE* open_run_log(const std::string& path, bool append);

}  // namespace attn
