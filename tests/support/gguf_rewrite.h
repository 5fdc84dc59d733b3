// Rewrites a GGUF file with edits (drop a tensor, change its dims, replace metadata),
// for corrupted-file tests that need a file which is well-formed GGUF but wrong for
// nibble. Everything not edited is copied as is, in order.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/gguf_metadata.h"
#include "formats/gguf_types.h"

namespace nibble::testing {

struct GgufEdit {
  std::set<std::string> drop_tensors = {};
  std::map<std::string, std::vector<int64_t>> reshape = {};  // same element count, other dims
  std::map<std::string, uint32_t> set_u32 = {};
  std::map<std::string, std::vector<uint32_t>> set_u32s = {};
  std::map<std::string, std::vector<std::string>> set_strings = {};
  std::map<std::string, GgufValue> set_values = {};        // any key and type; appended when absent
  std::map<std::string, GgmlType> retype = {};             // same bytes, read as a type of equal size
  std::map<std::string, std::vector<float>> add_f32 = {};  // new 1-D F32 tensors, after the others
};

Status rewrite_gguf(const std::string& in, const std::string& out, const GgufEdit& edit);

}  // namespace nibble::testing
