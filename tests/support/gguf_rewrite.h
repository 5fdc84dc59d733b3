// Rewrites a GGUF file with edits (drop a tensor, change its dims, replace metadata),
// for corrupted-file tests that need a file which is well-formed GGUF but wrong for
// nibble. Everything not edited is copied as is, in order.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace nibble::testing {

struct GgufEdit {
  std::set<std::string> drop_tensors;
  std::map<std::string, std::vector<int64_t>> reshape;  // same element count, other dims
  std::map<std::string, uint32_t> set_u32;
  std::map<std::string, std::vector<uint32_t>> set_u32s;
  std::map<std::string, std::vector<std::string>> set_strings;
};

Status rewrite_gguf(const std::string& in, const std::string& out, const GgufEdit& edit);

}  // namespace nibble::testing
