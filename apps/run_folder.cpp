#include "apps/run_folder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "engine/files.h"

namespace attn {
namespace fs = std::filesystem;

std::string checkpoint_path(const std::string& out) { return out + "/checkpoint.safetensors"; }

Checkpoint read_run_checkpoint(const std::string& out, const std::string& command) {
  const std::string path = checkpoint_path(out);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec)))
    throw std::runtime_error(
        "--resume: " + path + " does not exist, so there is no run to continue in " + out +
        "; start one with `attn " + command + " --out " + out + " ...` (without --resume)");
  return read_checkpoint(path);
}

void prepare_run_folder(const std::string& out, bool resume, int64_t parameters, int64_t keep_checkpoints) {
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw std::runtime_error(out + ": --out names a file, not a folder");
  fs::create_directories(out);
  if (!resume && fs::exists(fs::symlink_status(checkpoint_path(out), ec)))
    throw std::runtime_error(out + " already holds a checkpoint: continue it with --resume, "
                             "or choose another --out");
  if (::access(out.c_str(), W_OK | X_OK) != 0)
    throw std::runtime_error(out + ": the run folder is not writable");
  // A checkpoint holds parameters, two AdamW moments and perhaps the weight average; the
  // numbered copies are hard links (no space) unless the file system refuses them.
  const uintmax_t need = static_cast<uintmax_t>(parameters) * sizeof(float) * 4 *
                             (2 + static_cast<uintmax_t>(std::max<int64_t>(keep_checkpoints, 0))) + (1u << 20);
  const auto space = fs::space(out, ec);
  if (!ec && space.available < need)
    throw std::runtime_error(out + ": only " + byte_count(space.available) + " free, checkpoints need about " +
                             byte_count(need));
}

void keep_numbered_copies(const std::string& out, int64_t step, int64_t keep) {
  if (keep <= 0) return;
  char name[64];
  std::snprintf(name, sizeof name, "/checkpoint-%08lld.safetensors", static_cast<long long>(step));
  const std::string numbered = out + name;
  ::unlink(numbered.c_str());  // a stale copy (or a planted symlink) of this step goes first
  if (::link(checkpoint_path(out).c_str(), numbered.c_str()) != 0) {  // no hard links: a copy
    const std::string copy = numbered + ".copy";
    ::unlink(copy.c_str());
    std::error_code ec;
    fs::copy_file(checkpoint_path(out), copy, ec);  // fails rather than overwrite
    if (ec || ::rename(copy.c_str(), numbered.c_str()) != 0)
      throw std::runtime_error(numbered + ": cannot keep a numbered copy of the checkpoint");
  }
  std::vector<std::pair<int64_t, std::string>> copies;  // by step, not by name
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string file = entry.path().filename().string();
    long long copy_step = -1;
    char tail[32] = {};
    if (std::sscanf(file.c_str(), "checkpoint-%lld.%31s", &copy_step, tail) == 2 &&
        std::string(tail) == "safetensors")
      copies.emplace_back(copy_step, entry.path().string());
  }
  std::sort(copies.begin(), copies.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < copies.size(); ++i) fs::remove(copies[i].second);
}

FILE* open_run_log(const std::string& path, bool append) {
  const int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0)
    throw std::runtime_error(path + ": cannot open for writing (" + std::strerror(errno) +
                             (errno == ELOOP ? "; it is a symlink" : "") + ")");
  FILE* f = ::fdopen(fd, append ? "a" : "w");
  if (!f) {
    ::close(fd);
    throw std::runtime_error(path + ": cannot open for writing");
  }
  return f;
}

}  // namespace attn
