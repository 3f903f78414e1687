#include "nn/json_input.h"

#include <stdexcept>

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

std::string json_excerpt(const nlohmann::json& value) {
  auto cut = [](std::string s) { return s.size() <= 40 ? s : s.substr(0, 40) + "..."; };
  if (value.is_string()) return "'" + cut(value.get<std::string>()) + "'";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return cut(value.dump());  // a number, true, false or null: no nesting
}

}  // namespace attn
