// Files that attn reads from users and writes for them, handled the same way everywhere.
//   Reading: only regular files (a folder, device, FIFO or socket is refused by name, so that
//   /dev/zero cannot fill memory and a FIFO cannot hang a run), at most a stated number of
//   bytes, read in full or not at all.
//   Writing: to a temporary created exclusively beside the target (O_CREAT | O_EXCL |
//   O_NOFOLLOW: a symlink planted at the temporary's name is never followed or truncated),
//   flushed to disk, then renamed over the target; the folder is synced so the rename
//   survives a crash. On any failure the temporary is removed and the target is untouched.
#pragma once
#include <cstdint>
#include <string>

namespace attn {

// The size of a regular file; throws naming the file when it is missing, a folder or not a
// regular file. `what` says what the file is for ("the checkpoint", "the training data").
uint64_t regular_file_size(const std::string& path, const std::string& what);

// The whole file, refused (naming the file, its size and the limit) above max_bytes.
std::string read_regular_file(const std::string& path, const std::string& what, uint64_t max_bytes);

// Replaces `path` with head followed by body (either may be empty), atomically, as above.
void write_file_atomically(const std::string& path, const std::string& head, const char* body = nullptr,
                           size_t body_size = 0);

// A byte count for messages: "512 bytes", "3.2 MB", "1.5 GB".
std::string byte_count(uint64_t bytes);

}  // namespace attn
