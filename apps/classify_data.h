// The data of `attn classify`: examples as token ids with labels, read or generated
// (ListOps with LRA's rules or TSV files; label,text CSV at byte or word level), and the
// batches of a step (packed to the longest example, optionally drawn by length).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/classify.h"
#include "engine/rng.h"
#include "nn/transformer.h"

namespace attn {

struct Dataset {
  std::vector<std::vector<int32_t>> tokens;  // ids >= 1 (0 is padding)
  std::vector<int32_t> labels;
};

struct ClassificationData {
  Dataset train, test;
  int64_t vocab = 0, classes = 0;
  std::vector<std::string> token_names;  // [vocab]: the text of each id ("<pad>" for 0)
  double outer_operator_baseline = -1;  // ListOps only: see listops::outer_operator_baseline
};

// Reads or generates the task the options describe (throws naming the file and the problem).
ClassificationData load_classification_data(const ClassifyOptions& o);

// A text as the task's token ids: ListOps tokens separated by spaces ("[MAX 2 9 ]",
// parentheses ignored), CSV bytes or words as the training data was encoded (unknown words:
// id 1). Throws naming the first token that is not in the vocabulary (ListOps).
std::vector<int32_t> encode_classify_text(const ClassificationData& data, const ClassifyOptions& o,
                                          const std::string& text);

// Packs the examples d[index[b]] into ids [B, T] and lengths, where T is the longest of them
// (capped at max_T; longer inputs are cut), so short batches cost less; with CLS pooling the
// first position holds the CLS token (id vocab; -1: none).
void pack(const Dataset& d, const std::vector<int64_t>& index, int64_t max_T, int32_t cls_token,
          Ids& ids, std::vector<int32_t>& lengths, Ids& labels);

// The examples of one training step. Without bucketing: B uniform draws. With bucketing: B
// neighbours in length order from a uniform start, so a batch pads to about its own length
// (ListOps 100..500: roughly half the padded tokens of uniform batches).
// Only the first `pool` entries of `by_length` are drawn from (the length curriculum).
std::vector<int64_t> draw_batch(const std::vector<int64_t>& by_length, int64_t pool, int64_t B,
                                bool bucket, Rng& rng);

}  // namespace attn
