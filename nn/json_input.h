// JSON from files attn did not write itself (checkpoint metadata, safetensors headers,
// metrics.jsonl, config.json) is parsed only after a scan of its nesting depth, so that no
// file can make a later copy, comparison or message recurse without bound; and such JSON is
// never dumped into a message whole, only as a short excerpt.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace attn {

constexpr int kMaxJsonDepth = 32;  // attn's own files nest at most 4 levels

// Parses `text`; throws std::runtime_error starting with `source` when it nests deeper than
// kMaxJsonDepth or is not valid JSON (with the parser's byte offset).
nlohmann::json parse_untrusted_json(const std::string& text, const std::string& source);

// A value for a message: a number or a string (quoted, cut to 40 characters), or "an array"
// / "an object" / "null" / "true" / "false"; never a recursive dump.
std::string json_excerpt(const nlohmann::json& value);

// Writes a JSON document attn made (eval.json, compare.json, config.json) atomically, beside
// no symlink (engine/files.h); refuses, naming the field, a number that is not finite, which
// JSON cannot hold (nlohmann would write null where a number is documented).
void write_json_file(const std::string& path, const nlohmann::json& document, int indent = 2);

}  // namespace attn
