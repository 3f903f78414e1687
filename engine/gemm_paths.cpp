#include "engine/gemm_paths.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace attn {
namespace {

// -1: none (the environment decides); else a GemmPathPolicy. Atomic: gemm() reads it on
// every thread.
std::atomic<int> policy_override{-1};

GemmPathPolicy policy_from_environment() {
  const char* value = std::getenv("ATTN_MATMUL_PATH");
  return parse_gemm_path_policy(value ? value : "");
}

// No spaces: a field of the cache file. The CPU's model name, the instruction set oneDNN
// dispatches to, and oneDNN's version: a decision holds for exactly that triple.
std::string read_machine_signature() {
  std::string model = "unknown-cpu";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (const size_t colon = line.find(':');
        line.rfind("model name", 0) == 0 && colon != std::string::npos) {
      const size_t start = line.find_first_not_of(" \t", colon + 1);
      if (start != std::string::npos) model = line.substr(start);
      break;
    }
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream out;
  out << model << "/isa" << static_cast<int>(dnnl::get_effective_cpu_isa()) << "/onednn"
      << v->major << '.' << v->minor << '.' << v->patch;
  std::string s = out.str();
  std::replace_if(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t'; }, '_');
  return s;
}

const std::string& machine_signature() {
  static const std::string signature = read_machine_signature();
  return signature;
}

struct Table {
  std::mutex mutex;
  bool loaded = false, warned_read = false, warned_write = false;
  std::map<std::string, GemmPath> paths;
};

Table& table() {
  static Table t;
  return t;
}

std::optional<GemmPath> path_named(const std::string& name) {
  if (name == "primitive") return GemmPath::kPrimitive;
  if (name == "gemm") return GemmPath::kGemm;
  return std::nullopt;
}

void warn_once(bool& warned, const std::string& message) {
  if (warned) return;
  warned = true;
  std::fprintf(stderr, "attn: %s\n", message.c_str());
}

// This machine's decisions in the cache file, the first line of a shape winning (see
// record_first). A malformed line is skipped with a warning naming the file and line (a run
// that crashed mid-append leaves a partial last line).
std::map<std::string, GemmPath> read_decisions(Table& t, const std::string& file) {
  std::map<std::string, GemmPath> decisions;
  std::ifstream in(file);
  int line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string m, shape, name, extra;
    fields >> m >> shape >> name;
    const auto path = path_named(name);
    if (m.empty() || shape.empty() || !path || (fields >> extra)) {
      warn_once(t.warned_read, file + ":" + std::to_string(line_number) +
                                   ": not '<machine> <shape> primitive|gemm'; line ignored");
      continue;
    }
    if (m == machine_signature()) decisions.emplace(shape, *path);  // keeps the first
  }
  return decisions;
}

void load(Table& t) {
  t.loaded = true;
  t.paths = read_decisions(t, gemm_path_cache_file());
}

// Appends a decision unless another process recorded one for the shape first (two runs
// tuning at once): under an exclusive lock of the file, read, then append one line. Returns
// the decision in force, which the caller uses, so that every run takes the first one.
GemmPath record_first(Table& t, const std::string& shape_key, GemmPath path) {
  const std::string file = gemm_path_cache_file();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
  // O_CLOEXEC: a child started meanwhile must not inherit the lock. Closing releases it.
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0) {
    warn_once(t.warned_write, "cannot write the matmul path cache " + file +
                                  " (set ATTN_CACHE_DIR); the next run will time its "
                                  "products again");
    return path;
  }
  const std::map<std::string, GemmPath> recorded = read_decisions(t, file);
  if (const auto earlier = recorded.find(shape_key); earlier != recorded.end())
    return earlier->second;
  // A file that does not end in a newline (a crash mid-append, an edit) gets one first, so
  // that this line is not glued to the broken one.
  std::string line = machine_signature() + " " + shape_key + " " + gemm_path_name(path) + "\n";
  char last = '\n';
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size > 0 && ::pread(fd, &last, 1, size - 1) == 1 && last != '\n') line = "\n" + line;
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    warn_once(t.warned_write, "cannot write the matmul path cache " + file);
  return path;
}

}  // namespace

GemmPathPolicy parse_gemm_path_policy(const std::string& v) {
  if (v.empty() || v == "tune") return GemmPathPolicy::kTune;
  if (v == "primitive") return GemmPathPolicy::kPrimitive;
  if (v == "gemm") return GemmPathPolicy::kGemm;
  throw std::invalid_argument("ATTN_MATMUL_PATH='" + v + "': expected tune, primitive or gemm");
}

const char* gemm_path_name(GemmPath path) {
  return path == GemmPath::kGemm ? "gemm" : "primitive";
}

GemmPathPolicy gemm_path_policy() {
  if (const int forced = policy_override.load(std::memory_order_relaxed); forced >= 0)
    return static_cast<GemmPathPolicy>(forced);
  static const GemmPathPolicy from_env = policy_from_environment();
  return from_env;
}

void set_gemm_path_policy(std::optional<GemmPathPolicy> policy) {
  policy_override = policy ? static_cast<int>(*policy) : -1;
}

std::string gemm_path_cache_file() {
  if (const char* dir = std::getenv("ATTN_CACHE_DIR"); dir && *dir)
    return std::string(dir) + "/matmul_paths.txt";
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/attn/matmul_paths.txt";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/attn/matmul_paths.txt";
}

std::optional<GemmPath> known_gemm_path(const std::string& shape_key) {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  if (!t.loaded) load(t);
  auto it = t.paths.find(shape_key);
  if (it == t.paths.end()) return std::nullopt;
  return it->second;
}

GemmPath remember_gemm_path(const std::string& shape_key, GemmPath path) {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  if (!t.loaded) load(t);
  // A decision this process already holds stands (another thread's, when the file could not
  // be written): one process never takes two paths for a shape.
  if (const auto held = t.paths.find(shape_key); held != t.paths.end()) return held->second;
  return t.paths[shape_key] = record_first(t, shape_key, path);
}

void forget_gemm_paths() {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  t.paths.clear();
  t.loaded = false;
}

namespace {

double ms(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
      .count();
}

// One round: the fastest of several alternating runs of each (other programs' noise only
// ever adds time); true when the gemm driver wins by 1%.
bool gemm_driver_wins_round(const std::function<void()>& primitive,
                            const std::function<void()>& gemm) {
  double best_primitive = 1e30, best_gemm = 1e30, spent = 0;
  for (int pair = 0; pair < 5 || (pair < 15 && spent < 100); ++pair) {
    const double p = ms(primitive), g = ms(gemm);
    best_primitive = std::min(best_primitive, p), best_gemm = std::min(best_gemm, g);
    spent += p + g;
  }
  return best_gemm < 0.99 * best_primitive;
}

}  // namespace

GemmPath faster_gemm_path(const std::function<void()>& primitive,
                          const std::function<void()>& gemm) {
  primitive(), gemm();  // warm-up: first touch of the buffers, caches
  // Best of three rounds: a burst of another program's work during one round cannot decide.
  int gemm_votes = 0;
  for (int round = 0; round < 3 && gemm_votes < 2 && gemm_votes >= round - 1; ++round)
    gemm_votes += gemm_driver_wins_round(primitive, gemm);
  return gemm_votes >= 2 ? GemmPath::kGemm : GemmPath::kPrimitive;
}

}  // namespace attn
