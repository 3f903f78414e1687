#include <unistd.h>

#include <fstream>
#include <sstream>

#include "engine/allocator.h"
#include "tests/helpers.h"

using namespace attn;

TEST_CASE("factories, shapes and item") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.dim() == 2);
  CHECK(z.size(-1) == 3);
  CHECK(to_string(z.shape()) == "[2, 3]");
  Tensor s = Tensor::scalar(4.5f);
  CHECK(s.dim() == 0);
  CHECK(s.item() == 4.5f);
  CHECK_THROWS_WITH(Tensor::from({2, 2}, {1, 2, 3}),
                    doctest::Contains("shape [2, 2] needs 4 values, got 3"));
  CHECK_THROWS_WITH(Tensor::zeros({1, 1, 1, 1, 1}), doctest::Contains("at most 4 dims"));
  CHECK_THROWS(z.item());
}

TEST_CASE("storage is 64-byte aligned and freed blocks are reused by size") {
  release_cached_blocks();
  const auto before = allocator_stats();
  for (int step = 0; step < 5; ++step) {
    Tensor a = Tensor::empty({37, 41});
    Tensor b = Tensor::empty({128});
    CHECK(reinterpret_cast<uintptr_t>(a.data()) % 64 == 0);
    CHECK(reinterpret_cast<uintptr_t>(b.data()) % 64 == 0);
  }
  // Two system allocations for the first step, none for the four repeats.
  CHECK(allocator_stats().system_allocs - before.system_allocs == 2);
}

TEST_CASE("nearby large sizes share a block and the cache stays bounded") {
  release_cached_blocks();
  const auto before = allocator_stats();
  { Tensor a = Tensor::empty({1000, 1000}); }
  { Tensor b = Tensor::empty({1000, 1001}); }  // same size class: the block is reused
  CHECK(allocator_stats().system_allocs - before.system_allocs == 1);
  // Ever-changing shapes (padded batches) must not grow the cache past its 1 GiB bound.
  // Without the bound these 3 MB..330 MB blocks would keep ~4 GB cached (empty() never
  // touches the pages, so this is cheap).
  for (int64_t rows = 200; rows < 20000; rows = rows * 21 / 20) {
    Tensor c = Tensor::empty({rows, 4096});
  }
  CHECK(allocator_stats().bytes_cached <= (size_t{1} << 30) + size_t{64} * 1024 * 1024);
  release_cached_blocks();
}

TEST_CASE("a large request takes the smallest cached block of up to four times its size") {
  release_cached_blocks();
  const auto before = allocator_stats();
  { Tensor big = Tensor::empty({3000, 1000}); }      // 12 MB, mapped
  { Tensor smaller = Tensor::empty({1600, 1000}); }  // 6.4 MB: reuses the 12 MB block
  { Tensor again = Tensor::empty({3000, 1000}); }    // the same block, still whole
  CHECK(allocator_stats().system_allocs - before.system_allocs == 1);
  { Tensor tiny = Tensor::empty({500, 1000}); }      // 2 MB: under a quarter, a block of its own
  CHECK(allocator_stats().system_allocs - before.system_allocs == 2);
  {  // two live at once: the second cannot share the first's block
    Tensor a = Tensor::empty({3000, 1000}), b = Tensor::empty({2900, 1000});
    CHECK(a.data() != b.data());
  }
  CHECK(allocator_stats().bytes_in_use == before.bytes_in_use);
  release_cached_blocks();
}

// Resident memory of this process, from /proc/self/statm (Linux).
static size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t total_pages = 0, resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

TEST_CASE("released large blocks give their pages back, even between live small ones") {
  // Large blocks of changing sizes interleaved with small ones that stay alive: the pattern
  // of training on batches padded to their longest sequence. Blocks left to malloc's heap
  // stay resident after they are freed; mapped blocks must not.
  release_cached_blocks();
  { Tensor warm = Tensor::empty({600 * 1024}); }  // a freed 2.4 MB block (raises malloc's
  release_cached_blocks();                        // mmap threshold when malloc serves it)
  const size_t before = resident_bytes();
  std::vector<Tensor> small;
  {
    std::vector<Tensor> large;
    for (int64_t i = 0; i < 100; ++i) {
      large.push_back(Tensor::zeros({500 * 1024 + i * 1024}));  // ~2 MB each, touched
      small.push_back(Tensor::zeros({1024}));
    }
    CHECK(resident_bytes() > before + 150u * 1024 * 1024);
  }
  release_cached_blocks();
  CHECK(resident_bytes() < before + 30u * 1024 * 1024);
}

TEST_CASE("peak memory tracks the high-water mark") {
  reset_peak_bytes();
  const size_t base = allocator_stats().bytes_in_use;
  { Tensor big = Tensor::empty({1024, 1024}); }
  const auto stats = allocator_stats();
  CHECK(stats.peak_bytes >= base + 4u * 1024 * 1024);
  CHECK(stats.bytes_in_use == base);
}

TEST_CASE("a seeded RNG repeats itself and its state can be restored") {
  Rng a(42), b(42);
  for (int i = 0; i < 10; ++i) CHECK(a.next_u64() == b.next_u64());
  const auto state = a.state();
  const float x = a.normal();
  a.set_state(state);
  CHECK(a.normal() == x);
  // Moments of the normal and uniform generators.
  Rng r(1);
  double m = 0, v = 0, u = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double g = r.normal();
    m += g, v += g * g, u += r.uniform();
  }
  CHECK(std::abs(m / n) < 0.01);
  CHECK(std::abs(v / n - 1.0) < 0.02);
  CHECK(std::abs(u / n - 0.5) < 0.01);
}

TEST_CASE("printing shows the shape and values") {
  std::ostringstream os;
  os << Tensor::from({2, 2}, {1, 2, 3, 4});
  CHECK(os.str().find("Tensor[2, 2]") != std::string::npos);
  CHECK(os.str().find("4") != std::string::npos);
  std::ostringstream big;
  big << Tensor::zeros({20, 20});
  CHECK(big.str().find("...") != std::string::npos);
}

TEST_CASE("views share storage: reshape is free and arena views work") {
  Tensor x = Tensor::from({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = reshape(x, {3, -1});
  CHECK(y.shape() == Shape{3, 2});
  CHECK(y.data() == x.data());
  auto arena = std::make_shared<Storage>(10);
  Tensor v = Tensor::view_of(arena, 4, {2, 3});
  CHECK(v.data() == arena->data + 4);
  CHECK_THROWS_WITH(Tensor::view_of(arena, 5, {2, 3}), doctest::Contains("exceeds storage"));
}

TEST_CASE("Rng::jump starts a distinct stream that commutes with drawing") {
  // Data-parallel rank r draws dropout masks from the run's stream jumped r times; rebuilding
  // rank r's stream from rank 0's saved state needs jump(draw^n(s)) == draw^n(jump(s)).
  Rng jumped_first(42), drawn_first(42), plain(42);
  jumped_first.jump();
  for (int i = 0; i < 1000; ++i) jumped_first.next_u64(), drawn_first.next_u64();
  drawn_first.jump();
  CHECK(jumped_first.state() == drawn_first.state());
  Rng other(42);
  other.jump();
  int equal = 0;
  for (int i = 0; i < 1000; ++i) equal += other.next_u64() == plain.next_u64();
  CHECK(equal == 0);  // no draw in common with the stream it jumped from
}
