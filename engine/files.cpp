#include "engine/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace attn {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

std::string system_error(const char* doing) { return std::string(doing) + ": " + std::strerror(errno); }

// Writes all n bytes to fd (retrying short writes); false with errno set on failure.
bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= static_cast<size_t>(w);
  }
  return true;
}

// A temporary name beside `path` that no one can predict: path.tmp-<random>.
std::string temporary_name(const std::string& path) {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(::getpid()));
  char suffix[24];
  std::snprintf(suffix, sizeof suffix, ".tmp-%012llx",
                static_cast<unsigned long long>(rng() & 0xffffffffffffull));
  return path + suffix;
}

void sync_folder_of(const std::string& path) {
  std::string folder = std::filesystem::path(path).parent_path().string();
  if (folder.empty()) folder = ".";
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // the rename happened; only its durability is not confirmed
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

uint64_t regular_file_size(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) fail(path, what + " does not exist");
    fail(path, system_error(("cannot read " + what).c_str()));
  }
  if (S_ISDIR(st.st_mode)) fail(path, "is a folder, not " + what);
  if (!S_ISREG(st.st_mode))
    fail(path, "is not a regular file (a device, FIFO or socket), so it cannot be " + what);
  return static_cast<uint64_t>(st.st_size);
}

std::string read_regular_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  const uint64_t size = regular_file_size(path, what);
  if (size > max_bytes)
    fail(path, what + " is " + byte_count(size) + ", over the " + byte_count(max_bytes) + " limit");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, system_error(("cannot open " + what).c_str()));
  std::string bytes(size, '\0');
  size_t done = 0;
  while (done < size) {
    const ssize_t r = ::read(fd, bytes.data() + done, size - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = errno;
      ::close(fd);
      fail(path, r == 0 ? "the file shrank while it was read" : "reading failed: " + std::string(std::strerror(err)));
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  return bytes;
}

void write_file_atomically(const std::string& path, const std::string& head, const char* body,
                           size_t body_size) {
  const std::string tmp = temporary_name(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, system_error("cannot create a temporary file beside it"));
  const bool written = write_all(fd, head.data(), head.size()) &&
                       (body_size == 0 || write_all(fd, body, body_size)) && ::fsync(fd) == 0;
  const int err = errno;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    ::unlink(tmp.c_str());
    fail(path, std::string("writing failed (nothing was replaced): ") + std::strerror(written ? errno : err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = system_error("cannot replace the file");
    ::unlink(tmp.c_str());
    fail(path, why);
  }
  sync_folder_of(path);
}

std::string byte_count(uint64_t bytes) {
  char buf[32];
  if (bytes < 1000) std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  else if (bytes < 1000000) std::snprintf(buf, sizeof buf, "%.1f kB", bytes / 1e3);
  else if (bytes < 1000000000) std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  else if (bytes < 1000000000000) std::snprintf(buf, sizeof buf, "%.1f GB", bytes / 1e9);
  else std::snprintf(buf, sizeof buf, "%.1f TB", bytes / 1e12);
  return buf;
}

}  // namespace attn
