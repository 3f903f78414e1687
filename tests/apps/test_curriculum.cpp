// The length curriculum: the share of the (length-sorted) training set that batches come from.
#include <doctest/doctest.h>

#include <cmath>

#include "apps/curriculum.h"

using namespace attn;

TEST_CASE("the curriculum share grows as sqrt from c0 to 1, then stays at 1") {
  CHECK(curriculum_share(0, 100) == doctest::Approx(kCurriculumStartShare));
  const double c0 = kCurriculumStartShare;
  CHECK(curriculum_share(50, 100) == doctest::Approx(std::sqrt(0.5 * (1 - c0 * c0) + c0 * c0)));
  double previous = 0;
  for (int64_t t = 0; t <= 120; ++t) {
    const double share = curriculum_share(t, 100);
    CHECK(share >= previous);
    CHECK(share <= 1.0);
    previous = share;
  }
  CHECK(curriculum_share(100, 100) == 1.0);
  CHECK(curriculum_share(5, 0) == 1.0);  // off
}

TEST_CASE("the curriculum pool holds at least a batch and at most the set") {
  CHECK(curriculum_pool(0, 1000, 20000, 32) == 2000);
  CHECK(curriculum_pool(0, 1000, 100, 32) == 32);   // 10 shortest are fewer than a batch
  CHECK(curriculum_pool(0, 1000, 20, 32) == 20);    // a set smaller than a batch
  CHECK(curriculum_pool(1000, 1000, 20000, 32) == 20000);
  CHECK(curriculum_pool(7, 0, 20000, 32) == 20000);
}
