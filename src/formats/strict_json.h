// JSON from outside files (safetensors headers, config.json, index files), parsed
// without exceptions escaping and without silently dropping duplicate keys.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace nibble {

// Parses `text` as one JSON value. A syntax error becomes an Error quoting the
// parser's message; an object that repeats a key becomes an Error naming the key,
// because nlohmann::json would keep only one of the two values and which one a
// writer meant is unknowable. `source` names the file in messages.
Result<nlohmann::json> parse_strict_json(std::string_view text, const std::string& source);

// A short, printable rendering of `value` for error messages: primitives in full
// (strings cut at 60 characters), arrays and objects to a bounded depth and width.
// Never recurses deeper than a few levels, so a hostile deeply nested value is safe.
std::string json_excerpt(const nlohmann::json& value);

}  // namespace nibble
