#include "engine/allocator.h"

#include <sys/mman.h>

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

// Above this many cached bytes, a cache miss first returns every cached block to the system,
// so shapes that keep changing (batches padded to their longest sequence) cannot make the
// cache grow without bound.
constexpr size_t kCacheLimit = size_t{1} << 30;

size_t rounded_bytes(size_t count) {
  size_t bytes = count * sizeof(float);
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

// The size of the block actually handed out: requests above 64 KiB are rounded up to the next
// eighth of a power of two (at most 12.5% extra), so nearby sizes share one free list.
size_t block_bytes(size_t bytes) {
  if (bytes <= (size_t{1} << 16)) return bytes;
  size_t power = size_t{1} << 16;
  while (power < bytes) power <<= 1;
  const size_t step = power / 8;
  return (bytes + step - 1) / step * step;
}

// Blocks of 1 MiB and more are mapped straight from the system, so releasing them returns
// their pages. Left to malloc, such blocks of ever-changing sizes (batches padded to their
// longest sequence, a length curriculum) fragment its heap, which keeps the freed pages: a
// ListOps run with a curriculum grew to 24 GB that way with a 5 GB high-water mark.
constexpr size_t kMappedBlockBytes = size_t{1} << 20;

void* system_allocate(size_t block_size) {
  if (block_size < kMappedBlockBytes) return std::aligned_alloc(kAlignment, block_size);
  void* block = mmap(nullptr, block_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return block == MAP_FAILED ? nullptr : block;  // page-aligned, so 64-byte aligned
}

void system_release(void* block, size_t block_size) {
  if (block_size < kMappedBlockBytes) std::free(block);
  else munmap(block, block_size);
}

void free_cached(CachingAllocator& a) {
  for (auto& [bytes, blocks] : a.free_blocks)
    for (void* block : blocks) system_release(block, bytes);
  a.free_blocks.clear();
  a.stats.bytes_cached = 0;
}

}  // namespace

float* allocate_floats(size_t count) {
  if (count == 0) count = 1;
  const size_t bytes = rounded_bytes(count), block_size = block_bytes(bytes);
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  void* block = nullptr;
  auto it = a.free_blocks.find(block_size);
  if (it != a.free_blocks.end() && !it->second.empty()) {
    block = it->second.back();
    it->second.pop_back();
    a.stats.bytes_cached -= block_size;
  } else {
    if (a.stats.bytes_cached > kCacheLimit) free_cached(a);
    block = system_allocate(block_size);
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
  const size_t bytes = rounded_bytes(count), block_size = block_bytes(bytes);
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.free_blocks[block_size].push_back(ptr);
  a.stats.bytes_in_use -= bytes;
  a.stats.bytes_cached += block_size;
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
  free_cached(a);
}

}  // namespace attn
