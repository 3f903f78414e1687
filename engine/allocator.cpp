#include "engine/allocator.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <map>
#include <unordered_map>
#include <vector>

namespace attn {
namespace {

constexpr size_t kAlignment = 64;

struct CachingAllocator {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // small: bytes -> blocks
  std::multimap<size_t, void*> free_large;       // large (mapped) blocks by size, best fit
  std::unordered_map<void*, size_t> live_large;  // large blocks handed out -> their size
  AllocatorStats stats;
  size_t most_in_use = 0;  // bytes_in_use's high-water mark since the start (never reset)
};

CachingAllocator& allocator() {
  static auto* instance = new CachingAllocator();  // never destroyed: tensors may outlive main
  return *instance;
}

// Above this many cached bytes (or the most bytes ever in use, if that is more: a step frees
// all it used), a cache miss first returns every cached block to the system, so shapes that
// keep changing (batches padded to their longest sequence) cannot make the cache grow
// without bound.
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
// A request for a large block takes the smallest cached one of at least its size and at most
// four times it (best fit), so steps whose shapes change reuse the blocks of larger earlier steps
// instead of mapping (and page-faulting) new ones: a ListOps step (T 100..500) otherwise
// mapped about 280 MB of fresh pages and spent a third of its time in the kernel; with best
// fit the pages mapped stop growing after the first steps (2 GB, then flat over 90 steps).
constexpr size_t kMappedBlockBytes = size_t{1} << 20;
constexpr size_t kBestFitSlack = 4;

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
  for (auto& [bytes, block] : a.free_large) system_release(block, bytes);
  a.free_blocks.clear();
  a.free_large.clear();
  a.stats.bytes_cached = 0;
}

// A cached block for `block_size` bytes (its actual size in `*size`), or null.
void* take_cached(CachingAllocator& a, size_t block_size, size_t* size) {
  *size = block_size;
  if (block_size >= kMappedBlockBytes) {
    const auto it = a.free_large.lower_bound(block_size);
    if (it == a.free_large.end() || it->first > kBestFitSlack * block_size) return nullptr;
    void* block = it->second;
    *size = it->first;
    a.free_large.erase(it);
    return block;
  }
  const auto it = a.free_blocks.find(block_size);
  if (it == a.free_blocks.end() || it->second.empty()) return nullptr;
  void* block = it->second.back();
  it->second.pop_back();
  return block;
}

}  // namespace

float* allocate_floats(size_t count) {
  if (count == 0) count = 1;
  const size_t bytes = rounded_bytes(count), block_size = block_bytes(bytes);
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  size_t size = block_size;
  void* block = take_cached(a, block_size, &size);
  if (block) {
    a.stats.bytes_cached -= size;
  } else {
    if (a.stats.bytes_cached > std::max(kCacheLimit, a.most_in_use)) free_cached(a);
    block = system_allocate(block_size);
    if (!block) throw std::bad_alloc();
    a.stats.system_allocs++;
  }
  if (size >= kMappedBlockBytes) a.live_large[block] = size;
  a.stats.bytes_in_use += bytes;
  if (a.stats.bytes_in_use > a.stats.peak_bytes) a.stats.peak_bytes = a.stats.bytes_in_use;
  a.most_in_use = std::max(a.most_in_use, a.stats.bytes_in_use);
  return static_cast<float*>(block);
}

void release_floats(float* ptr, size_t count) {
  if (!ptr) return;
  if (count == 0) count = 1;
  const size_t bytes = rounded_bytes(count), block_size = block_bytes(bytes);
  auto& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  size_t size = block_size;
  if (block_size >= kMappedBlockBytes) {
    const auto it = a.live_large.find(ptr);
    size = it->second;
    a.live_large.erase(it);
    a.free_large.emplace(size, ptr);
  } else {
    a.free_blocks[block_size].push_back(ptr);
  }
  a.stats.bytes_in_use -= bytes;
  a.stats.bytes_cached += size;
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
