// The synthetic LM tasks: every scored target is what the task promises (the copied symbol,
// the value stored under the queried key), nothing else is scored, and bad settings fail.
#include <doctest/doctest.h>

#include <map>

#include "apps/lm_tasks.h"

using namespace attn;

TEST_CASE("copy task: the copy after the separator is the only scored part") {
  CopyTask task(6, 2, 9);
  Rng rng(3);
  const int64_t B = 50, T = task.context_needed();
  Batch b = task.batch(false, B, T, rng);
  for (int64_t i = 0; i < B; ++i) {
    const int32_t* in = b.inputs.values.data() + i * T;
    const int32_t* target = b.targets.values.data() + i * T;
    int64_t L = 0;
    while (in[L] != 6) ++L;  // the separator
    CHECK((L >= 2 && L <= 9));
    for (int64_t p = 0; p < T; ++p) {
      if (p >= L && p < 2 * L) CHECK(target[p] == in[p - L]);
      else CHECK(target[p] == -1);
    }
  }
}

TEST_CASE("recall task: each query's target is the value stored under its key") {
  RecallTask task(12, 5, 2, 8);
  Rng rng(4);
  const int64_t B = 100, T = task.context_needed();
  CHECK(task.vocab_size() == 12 + 5 + 2);
  Batch b = task.batch(false, B, T, rng);
  int64_t scored = 0;
  for (int64_t i = 0; i < B; ++i) {
    const int32_t* in = b.inputs.values.data() + i * T;
    const int32_t* target = b.targets.values.data() + i * T;
    int64_t n = 0;
    std::map<int32_t, int32_t> stored;
    while (in[2 * n] != 17) {  // pairs until the separator (id keys + values = 17)
      REQUIRE(in[2 * n] < 12);
      REQUIRE((in[2 * n + 1] >= 12 && in[2 * n + 1] < 17));
      CHECK(stored.count(in[2 * n]) == 0);  // keys are distinct
      stored[in[2 * n]] = in[2 * n + 1];
      ++n;
    }
    CHECK((n >= 2 && n <= 8));
    std::map<int32_t, int> queried;
    for (int64_t p = 0; p < T; ++p) {
      const bool query = p > 2 * n && p < 4 * n + 1 && (p - 2 * n - 1) % 2 == 0;
      if (!query) {
        CHECK(target[p] == -1);
        continue;
      }
      REQUIRE(stored.count(in[p]) == 1);
      CHECK(target[p] == stored[in[p]]);
      CHECK(in[p + 1] == stored[in[p]]);  // the answer follows in the input (teacher forcing)
      queried[in[p]]++;
      ++scored;
    }
    CHECK(queried.size() == stored.size());  // every key is asked once
    for (int64_t p = 4 * n + 1; p < T; ++p) CHECK(in[p] == 18);  // padding
  }
  CHECK(scored > 2 * B);
}

TEST_CASE("recall and copy tasks refuse impossible settings") {
  CHECK_THROWS_WITH(RecallTask(4, 5, 2, 8), doctest::Contains("distinct keys"));
  CHECK_THROWS_WITH(RecallTask(12, 1, 2, 8), doctest::Contains("at least 2 values"));
  CHECK_THROWS_WITH(RecallTask(12, 5, 3, 2), doctest::Contains("min pairs"));
  Rng rng(1);
  CHECK_THROWS_WITH(RecallTask(12, 5, 2, 8).batch(false, 1, 20, rng),
                    doctest::Contains("shorter than 33"));
  CHECK_THROWS_WITH(CopyTask(1, 1, 4), doctest::Contains("2 symbols"));
}
