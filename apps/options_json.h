// to_json / from_json of an options struct from the X-macro list of its saved fields: each
// field under its own name; a field missing from an older run's file keeps its default.
#pragma once
#include <nlohmann/json.hpp>

#define ATTN_OPTIONS_JSON_PUT(f) j[#f] = o.f;
#define ATTN_OPTIONS_JSON_GET(f) \
  if (j.contains(#f)) j.at(#f).get_to(o.f);
#define ATTN_DEFINE_OPTIONS_JSON(Type, FIELDS)                                          \
  void to_json(nlohmann::json& j, const Type& o) { FIELDS(ATTN_OPTIONS_JSON_PUT) }     \
  void from_json(const nlohmann::json& j, Type& o) { FIELDS(ATTN_OPTIONS_JSON_GET) }
