// The options of a resumed run. A run continues with the options it was started with; on the
// command line of `--resume` the user may change how it runs (--steps to extend it, threads,
// intervals, output) but not what it is (model shape, data, tokenizer, optimiser): those are
// refused with a message naming them, never silently ignored.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace attn {

// Fields of the options JSON that a resumed run may change.
const std::set<std::string>& resumable_fields();

// saved: the run's options (JSON); given: the command line's options (JSON, defaults filled
// in); given_fields: the JSON paths ("steps", "model.n_embd") of the options the user typed,
// with their spellings (e.g. "--width") in `spellings`. Returns the saved options with the
// changeable given ones applied; throws naming every other typed option that differs.
nlohmann::json resume_options(const nlohmann::json& saved, const nlohmann::json& given,
                              const std::vector<std::string>& given_fields,
                              const std::vector<std::string>& spellings);

// How a training run begins: new, resumed, or new from another run's weights.
struct RunStart {
  bool resume = false;
  // The options typed on the command line: JSON paths and spellings (see resume_options).
  std::vector<std::string> given_fields, spellings;
};

// The JSON path of a command-line option: "--width" -> "model.n_embd", "--min-lr" -> "min_lr".
std::string option_field(const std::string& cli_name);

}  // namespace attn
