// Caching allocator for tensor storage.
//
// Blocks are 64-byte aligned (one cache line, one AVX-512 register). A freed block goes to
// a free list keyed by its block size and is handed out again for the next request of that
// size class (exact below 64 KiB, eighths of a power of two above; blocks of 1 MiB and more
// go to the smallest cached block of up to four times their size), so a training step that
// repeats the same shapes allocates nothing after the first. The cache is bounded (1 GiB):
// past that, a miss returns every cached block to the system first.
// The allocator counts bytes in use and their high-water mark, which the benchmarks read as
// peak memory.
#pragma once
#include <cstddef>

namespace attn {

struct AllocatorStats {
  size_t bytes_in_use = 0;   // requested by live tensors (without size-class rounding)
  size_t peak_bytes = 0;     // high-water mark of bytes_in_use since the last reset
  size_t bytes_cached = 0;   // freed blocks kept for reuse
  size_t system_allocs = 0;  // calls that went to the system (cache misses)
};

float* allocate_floats(size_t count);
void release_floats(float* ptr, size_t count);

AllocatorStats allocator_stats();
void reset_peak_bytes();      // peak := bytes in use now
void release_cached_blocks(); // return every cached block to the system

}  // namespace attn
