// Argument checks that throw with the op's name and the shapes involved.
#pragma once
#include <stdexcept>
#include <string>

#include "engine/tensor.h"

namespace attn {

[[noreturn]] inline void shape_error(const char* op, const Shape& a, const Shape& b,
                                     const std::string& why) {
  throw std::invalid_argument(std::string(op) + ": shapes " + to_string(a) + " and " +
                              to_string(b) + " " + why);
}

[[noreturn]] inline void arg_error(const char* op, const std::string& why) {
  throw std::invalid_argument(std::string(op) + ": " + why);
}

inline void check_defined(const char* op, const Tensor& t) {
  if (!t.defined()) arg_error(op, "got an undefined tensor");
}

}  // namespace attn
