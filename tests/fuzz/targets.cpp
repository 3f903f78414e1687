#include "tests/fuzz/targets.h"

#include <exception>
#include <string>

#include "apps/csv.h"
#include "apps/listops.h"
#include "apps/memory_estimate.h"
#include "apps/option_ranges.h"
#include "apps/subword_model.h"
#include "apps/token_files.h"
#include "apps/tokenizer.h"
#include "engine/npy.h"
#include "nn/checkpoint.h"
#include "nn/json_input.h"
#include "nn/transformer.h"

namespace attn::fuzz {
namespace {

std::string text_of(const uint8_t* data, size_t size) {
  return size ? std::string(reinterpret_cast<const char*>(data), size) : std::string();
}

// What the apps do with a checkpoint after reading it, each step allowed to refuse.
void use_checkpoint(const Checkpoint& c) {
  try {
    Tokenizer::of_checkpoint(c);
  } catch (const std::exception&) {
  }
  try {
    checked_saved_options(c);
  } catch (const std::exception&) {
  }
  // Build and load the model only when its parameters are small (the fuzzer's memory).
  if (estimate_training_memory(c.config, 1, 1, false).parameters > 4e6) return;
  LanguageModel model(c.config, 0);
  load_evaluation_weights(c, model.arena());
  AdamW adam(model.arena(), {});
  load_optimizer(c, model.arena(), adam);
}

}  // namespace

void npy_reader(const uint8_t* data, size_t size) {
  try {
    Tensor t = parse_npy(text_of(data, size), "fuzz.npy");
    volatile float sink = t.numel() ? t.data()[t.numel() - 1] : 0.0f;  // touch the data
    (void)sink;
  } catch (const std::exception&) {
  }
}

void checkpoint_reader(const uint8_t* data, size_t size) {
  try {
    use_checkpoint(parse_checkpoint(text_of(data, size), "fuzz.safetensors"));
  } catch (const std::exception&) {
  }
}

void utf8_tokenizer(const uint8_t* data, size_t size) {
  const std::string text = text_of(data, size);
  try {
    Tokenizer t = Tokenizer::chars_of(text, "fuzz");
    const auto ids = t.encode(text, "fuzz");
    if (t.decode(ids) != text) __builtin_trap();  // char level must round-trip valid UTF-8
  } catch (const std::exception&) {
  }
}

void csv_reader(const uint8_t* data, size_t size) {
  try {  // as attn classify reads it: labels bounded by kMaxClasses
    const auto rows = parse_labeled_csv(text_of(data, size), "fuzz.csv", 0);
    for (const auto& r : rows)
      if (r.label < 0 || r.label >= kMaxClasses) __builtin_trap();
  } catch (const std::exception&) {
  }
}

void listops_tsv_reader(const uint8_t* data, size_t size) {
  try {
    for (const auto& ex : listops::parse_tsv(text_of(data, size), "fuzz.tsv")) {
      try {
        listops::evaluate(ex.tokens);
      } catch (const std::exception&) {
      }
    }
  } catch (const std::exception&) {
  }
}

void json_reader(const uint8_t* data, size_t size) {
  try {
    const nlohmann::json j = parse_untrusted_json(text_of(data, size), "fuzz.json");
    (void)json_excerpt(j);
    try {
      Tokenizer::from_json(j);
    } catch (const std::exception&) {
    }
    try {
      ModelConfig c = j.get<ModelConfig>();
      c.validate();
    } catch (const std::exception&) {
    }
    try {  // as dataset.json; its tokenizer is then built as train --data-dir does
      const DatasetInfo info = dataset_info_from_json(text_of(data, size), "fuzz/dataset.json", 0);
      if (!info.tokenizer.is_null()) Tokenizer::from_json(info.tokenizer);
    } catch (const std::exception&) {
    }
  } catch (const std::exception&) {
  }
}

void subword_model_reader(const uint8_t* data, size_t size) {
  try {
    const SubwordModel model = SubwordModel::load(text_of(data, size));
    const auto ids = model.encode("Pierre's caf\xC3\xA9, \xF0\x9F\x98\x80\n\xFF x");
    (void)model.decode(ids);
  } catch (const std::exception&) {
  }
}

}  // namespace attn::fuzz
