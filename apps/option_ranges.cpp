#include "apps/option_ranges.h"

#include "apps/run_options.h"
#include "nn/json_input.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace attn {
namespace {

constexpr int64_t kForever = 1'000'000'000'000;  // steps, intervals: far beyond any run
constexpr int64_t kMaxSeed = INT64_MAX;           // seeds are stored as JSON integers

CLI::Validator whole_numbers(int64_t lo, int64_t hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || error == std::errc::invalid_argument || stop != end)
          return "'" + text + "' is not a whole number";
        if (error == std::errc::result_out_of_range || value < lo || value > hi)
          return text + " is outside " + range;
        return "";
      },
      range);
}

// Finite reals in a range whose ends are closed ('[', ']') or open ('(', ')').
CLI::Validator reals(char open, double lo, double hi, char close) {
  auto shown = [](double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
    return s;
  };
  const std::string range = open + shown(lo) + ", " + shown(hi) + close;
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        errno = 0;
        char* stop = nullptr;
        const double value = std::strtod(text.c_str(), &stop);
        if (text.empty() || *stop != '\0') return "'" + text + "' is not a number";
        if (!std::isfinite(value)) return text + " is not a finite number";
        const bool above_lo = open == '[' ? value >= lo : value > lo;
        const bool below_hi = close == ']' ? value <= hi : value < hi;
        if (!above_lo || !below_hi) return text + " is outside " + range;
        return "";
      },
      range);
}

CLI::Validator yes_or_no() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        for (const char* word : {"true", "false", "1", "0"})
          if (text == word) return "";
        return "'" + text + "' is not true, false, 1 or 0";
      },
      "true|false");
}

struct OptionRange {
  const char* subcommand;  // "" for every subcommand that has the option
  const char* option;
  CLI::Validator range;
};

const std::vector<OptionRange>& option_table() {
  static const std::vector<OptionRange> table = {
      // The model (train, classify, compare).
      {"", "--layers", whole_numbers(1, kMaxLayers)},
      {"", "--heads", whole_numbers(1, kMaxHeads)},
      {"", "--width", whole_numbers(1, kMaxWidth)},
      {"", "--context", whole_numbers(1, kMaxContext)},
      {"", "--dropout", reals('[', 0, 1, ')')},
      {"", "--tied", yes_or_no()},
      // Built-in language-model tasks.
      {"", "--copy-symbols", whole_numbers(2, 65536)},
      {"", "--copy-min-len", whole_numbers(1, 65536)},
      {"", "--copy-max-len", whole_numbers(1, 65536)},
      {"", "--recall-keys", whole_numbers(1, 65536)},
      {"", "--recall-values", whole_numbers(2, 65536)},
      {"", "--recall-min-pairs", whole_numbers(1, 16384)},
      {"", "--recall-max-pairs", whole_numbers(1, 16384)},
      {"", "--val-fraction", reals('(', 0, 1, ')')},
      {"", "--vocab-size", whole_numbers(0, kMaxVocab)},
      {"prepare", "--vocab-size", whole_numbers(300, 1 << 20)},
      {"", "--sample-mb", reals('(', 0, 1e6, ']')},
      // Classification data.
      {"", "--listops-min-len", whole_numbers(0, 100000)},
      {"", "--listops-max-len", whole_numbers(2, 100000)},
      {"", "--listops-train-min-len", whole_numbers(-1, 100000)},
      {"", "--listops-train", whole_numbers(1, 1000000)},
      {"", "--listops-test", whole_numbers(1, 1000000)},
      {"", "--vocab-words", whole_numbers(1, 1 << 24)},
      {"", "--bucket", yes_or_no()},
      {"", "--curriculum", whole_numbers(0, kForever)},
      // Optimisation and the training loop.
      {"", "--batch", whole_numbers(1, 1 << 20)},
      {"", "--grad-accum", whole_numbers(1, 65536)},
      {"", "--steps", whole_numbers(1, kForever)},
      {"", "--warmup", whole_numbers(0, kForever)},
      {"", "--lr", reals('(', 0, 1000, ']')},
      {"", "--min-lr", reals('[', 0, 10, ']')},
      {"", "--weight-decay", reals('[', 0, 100, ']')},
      {"", "--beta1", reals('[', 0, 1, ')')},
      {"", "--beta2", reals('[', 0, 1, ')')},
      {"", "--grad-clip", reals('[', 0, 1e6, ']')},
      {"", "--ema", reals('[', 0, 1, ')')},
      {"", "--seed", whole_numbers(0, kMaxSeed)},
      {"", "--eval-iters", whole_numbers(1, 1000000)},
      {"", "--eval-interval", whole_numbers(1, kForever)},
      {"", "--log-interval", whole_numbers(1, kForever)},
      {"", "--ckpt-interval", whole_numbers(1, kForever)},
      {"", "--keep-checkpoints", whole_numbers(0, 1000)},
      {"", "--stop-after", whole_numbers(0, kForever)},
      {"", "--threads", whole_numbers(0, 1024)},
      {"", "--divergence", reals('[', 0, 1e6, ']')},
      {"", "--divergence-steps", whole_numbers(1, 1000000)},
      {"", "--rank-timeout", reals('[', 1, 86400, ']')},
      {"", "--sync-check", whole_numbers(1, kForever)},
      {"", "--bucket-mb", reals('[', 0, 4096, ']')},
      // sample and eval.
      {"", "--tokens", whole_numbers(0, 1'000'000'000)},
      {"", "--temperature", reals('[', 0, 100, ']')},
      {"", "--top-k", whole_numbers(0, INT32_MAX)},
      {"", "--top-p", reals('(', 0, 1, ']')},
      {"eval", "--batch", whole_numbers(1, 65536)},
      // bench, attention-map, op.
      {"", "--T", whole_numbers(1, 1 << 20)},
      {"bench", "--batch", whole_numbers(1, 4096)},
      {"bench", "--heads", whole_numbers(1, 1024)},
      {"", "--head-dim", whole_numbers(1, 4096)},
      {"", "--repeats", whole_numbers(1, 1000)},
      {"", "--max-mb", reals('(', 0, 1e9, ']')},
      {"", "--example", whole_numbers(0, 1'000'000'000)},
      {"", "--cell", whole_numbers(0, 64)},
      {"", "--chunk", whole_numbers(1, 65536)},
  };
  return table;
}

bool is_numeric(const CLI::Option* option) {
  const std::string type = option->get_type_name();
  return option->get_type_size() != 0 &&
         (type.rfind("INT", 0) == 0 || type.rfind("UINT", 0) == 0 || type.rfind("FLOAT", 0) == 0 ||
          type.rfind("BOOLEAN", 0) == 0 || type.rfind("NUMBER", 0) == 0);
}

const CLI::Validator* range_of(const std::string& subcommand, const std::string& option) {
  const CLI::Validator* found = nullptr;
  for (const OptionRange& r : option_table()) {
    if (option != r.option) continue;
    if (subcommand == r.subcommand) return &r.range;  // a subcommand's own range wins
    if (std::string(r.subcommand).empty()) found = &r.range;
  }
  return found;
}

// A saved value as the text a user would type, for the option's validator.
std::string as_typed(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v.get<double>());
  return buf;
}

}  // namespace

const nlohmann::json& checked_saved_options(const Checkpoint& ckpt) {
  if (!ckpt.extra.contains("options") || !ckpt.extra["options"].is_object())
    throw std::runtime_error(ckpt.path + ": holds no run options (not written by attn train or classify?)");
  const nlohmann::json& saved = ckpt.extra["options"];
  for (const OptionRange& r : option_table()) {
    if (!std::string(r.subcommand).empty()) continue;  // the general ranges cover saved runs
    const std::string field = option_field(r.option);
    const size_t dot = field.find('.');
    const nlohmann::json* node = &saved;
    for (const std::string& key : {field.substr(0, dot), dot == std::string::npos ? "" : field.substr(dot + 1)}) {
      if (key.empty()) break;
      node = node && node->is_object() && node->contains(key) ? &(*node)[key] : nullptr;
    }
    if (!node) continue;  // an older run without this option
    std::string text = node->is_number() || node->is_boolean() ? as_typed(*node) : "";
    const std::string error = text.empty() ? "is not a number" : r.range(text);
    if (!error.empty())
      throw std::runtime_error(ckpt.path + ": the run's saved option " + field + " (" + r.option +
                               "): " + (text.empty() ? json_excerpt(*node) + " " : "") + error);
  }
  return saved;
}

void apply_option_ranges(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    for (CLI::Option* option : sub->get_options()) {
      if (!is_numeric(option) || option->get_lnames().empty()) continue;
      const std::string name = "--" + option->get_lnames().front();
      const CLI::Validator* range = range_of(sub->get_name(), name);
      if (!range)
        throw std::logic_error("attn " + sub->get_name() + " " + name + " has no range in apps/option_ranges.cpp");
      option->check(*range);
    }
}

}  // namespace attn
