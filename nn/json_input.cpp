#include "nn/json_input.h"

#include <cmath>
#include <stdexcept>

#include "engine/files.h"

namespace attn {

nlohmann::json parse_untrusted_json(const std::string& text, const std::string& source) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {  // brackets outside strings
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw std::runtime_error(source + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                                 " levels at byte " + std::to_string(i));
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(source + ": not valid JSON (" + e.what() + ")");
  }
}

namespace {

// The path of the first non-finite number in `j` ("runs/2/tokens_per_s"), or "".
std::string first_nonfinite(const nlohmann::json& j, const std::string& at) {
  if (j.is_number_float() && !std::isfinite(j.get<double>())) return at.empty() ? "(the value)" : at;
  if (j.is_object() || j.is_array()) {
    size_t index = 0;
    for (auto it = j.begin(); it != j.end(); ++it, ++index) {
      const std::string key = j.is_object() ? it.key() : std::to_string(index);
      const std::string found = first_nonfinite(*it, at.empty() ? key : at + "/" + key);
      if (!found.empty()) return found;
    }
  }
  return "";
}

}  // namespace

void write_json_file(const std::string& path, const nlohmann::json& document, int indent) {
  const std::string bad = first_nonfinite(document, "");
  if (!bad.empty())
    throw std::runtime_error(path + ": not written: " + bad + " is not a finite number");
  write_file_atomically(path, document.dump(indent) + "\n");
}

std::string json_excerpt(const nlohmann::json& value) {
  auto cut = [](std::string s) { return s.size() <= 40 ? s : s.substr(0, 40) + "..."; };
  if (value.is_string()) return "'" + cut(value.get<std::string>()) + "'";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return cut(value.dump());  // a number, true, false or null: no nesting
}

}  // namespace attn
