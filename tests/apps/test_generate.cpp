// Generation: within the context one cached step per token, past it the last L tokens alone
// (cropped, as nanoGPT) -- equal, token for token, to a plain loop that runs the full forward
// on the cropped window; and the sampling rules (greedy, top-k, top-p).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "apps/sample.h"
#include "engine/tape.h"

using namespace attn;

namespace {

// The obviously-correct generator: a full forward over the last L tokens for every token.
std::vector<int32_t> generate_by_full_forward(LanguageModel& model, std::vector<int32_t> seq,
                                              int64_t count) {
  const int64_t L = model.config().context;
  const size_t prompt = seq.size();
  NoGradGuard no_grad;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(seq.size()), L);
    Ids window{{1, n}, std::vector<int32_t>(seq.end() - n, seq.end())};
    Tensor all = model.forward(window);
    const int64_t V = all.size(-1);
    const float* last = all.data() + (n - 1) * V;
    seq.push_back(static_cast<int32_t>(std::max_element(last, last + V) - last));
  }
  return {seq.begin() + static_cast<int64_t>(prompt), seq.end()};
}

}  // namespace

TEST_CASE("generation past the context crops to the last L tokens, as a full forward does") {
  for (const char* attention : {"softmax", "linear:chunk=3", "synth-random", "synth-dense+softmax"}) {
    CAPTURE(attention);
    ModelConfig c;
    c.vocab_size = 11, c.context = 8, c.n_layer = 2, c.n_head = 2, c.n_embd = 16;
    c.attention = attention;
    LanguageModel model(c, 5);
    model.eval();
    SamplingOptions greedy;
    greedy.temperature = 0;
    for (std::vector<int32_t> prompt : {std::vector<int32_t>{3}, std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}) {
      Rng rng(1);
      const auto fast = generate(model, prompt, 25, greedy, rng);  // crosses L = 8 at once or soon
      CHECK(fast == generate_by_full_forward(model, prompt, 25));
    }
  }
}

TEST_CASE("sampling: greedy, top-k and top-p keep only what they promise") {
  const std::vector<float> logits = {0.0f, 3.0f, 1.0f, 2.9f, -1.0f};
  Rng rng(7);
  SamplingOptions o;
  o.temperature = 0;
  CHECK(sample_token(logits, o, rng) == 1);
  o.temperature = 1;
  o.top_k = 2;  // tokens 1 and 3 only
  std::map<int32_t, int> seen;
  for (int i = 0; i < 2000; ++i) seen[sample_token(logits, o, rng)]++;
  CHECK(seen.size() == 2);
  CHECK(seen[1] > seen[3]);
  o.top_k = 0;
  o.top_p = 0.01f;  // the nucleus is the likeliest token alone
  for (int i = 0; i < 200; ++i) CHECK(sample_token(logits, o, rng) == 1);
  o.top_p = 0.95f;  // probabilities 0.474, 0.429, 0.064, 0.024, 0.009: three reach 0.95
  seen.clear();
  for (int i = 0; i < 3000; ++i) seen[sample_token(logits, o, rng)]++;
  CHECK(seen.count(0) == 0);
  CHECK(seen.count(4) == 0);
  CHECK(seen[2] > 0);
}
