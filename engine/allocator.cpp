#include "engine/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace attn {
namespace {

constexpr size_t kAlignment = 64;

struct CachingAllocator {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // bytes -> blocks
  AllocatorStats stats;
};

CachingAllocator& allocator() {
  static auto* instance = new CachingAllocator();  // never destroyed: tensors may outlive main
  return *instance;
}

size_t rounded_bytes(size_t count) {
  size_t bytes = count * sizeof(float);
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

}  // namespace

float* allocate_floats(size_t count) {
  if (count == 0) count = 1;
  const size_t bytes = rounded_bytes(count);
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  void* block = nullptr;
  auto it = a.free_blocks.find(bytes);
  if (it != a.free_blocks.end() && !it->second.empty()) {
    block = it->second.back();
    it->second.pop_back();
    a.stats.bytes_cached -= bytes;
  } else {
    block = std::aligned_alloc(kAlignment, bytes);
    if (!block) throw std::bad_alloc();
    a.stats.system_allocs++;
  }
  a.stats.bytes_in_use += bytes;
  if (a.stats.bytes_in_use > a.stats.peak_bytes) a.stats.peak_bytes = a.stats.bytes_in_use;
  return static_cast<float*>(block);
}

void release_floats(float* ptr, size_t count) {
  if (!ptr) return;
  if (count == 0) count = 1;
  const size_t bytes = rounded_bytes(count);
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.free_blocks[bytes].push_back(ptr);
  a.stats.bytes_in_use -= bytes;
  a.stats.bytes_cached += bytes;
}

AllocatorStats allocator_stats() {
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.stats;
}

void reset_peak_bytes() {
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.stats.peak_bytes = a.stats.bytes_in_use;
}

void release_cached_blocks() {
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  for (auto& [bytes, blocks] : a.free_blocks)
    for (void* block : blocks) std::free(block);
  a.free_blocks.clear();
  a.stats.bytes_cached = 0;
}

}  // namespace attn
