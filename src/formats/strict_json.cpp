#include "formats/strict_json.h"

#include <unordered_set>
#include <vector>

namespace nibble {

using nlohmann::json;

Result<json> parse_strict_json(std::string_view text, const std::string& source) {
  // One set of keys per object being parsed; the callback sees objects open and
  // close in document order, so the innermost open object is always at the back.
  std::vector<std::unordered_set<std::string>> open_objects;
  std::string duplicate;
  auto track_keys = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && duplicate.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get_ref<const std::string&>()).second)
          duplicate = parsed.get_ref<const std::string&>();
        break;
      default:
        break;
    }
    return true;  // keep every value; duplicates are reported after parsing
  };
  json value;
  try {
    value = json::parse(text.begin(), text.end(), track_keys, /*allow_exceptions=*/true,
                        /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    return make_error("{}: invalid JSON: {}", source, e.what());
  }
  if (!duplicate.empty())
    return make_error("{}: invalid JSON: key '{}' appears twice in one object", source, duplicate);
  return value;
}

namespace {

constexpr size_t kMaxStringChars = 60;
constexpr size_t kMaxItems = 4;
constexpr int kMaxDepth = 3;

void append_excerpt(const json& value, int depth, std::string* out) {
  // dump() of a primitive cannot recurse; invalid UTF-8 cannot occur in parsed
  // strings but is replaced rather than thrown on, to be safe for built values.
  auto dump = [](const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); };
  if (value.is_string()) {
    std::string text = dump(value);
    if (text.size() > kMaxStringChars) text = text.substr(0, kMaxStringChars) + "...\"";
    *out += text;
  } else if (value.is_array() || value.is_object()) {
    bool is_object = value.is_object();
    *out += is_object ? '{' : '[';
    if (depth >= kMaxDepth && !value.empty()) {
      *out += "...";
    } else {
      size_t shown = 0;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (shown > 0) *out += ", ";
        if (shown == kMaxItems) {
          *out += "...";
          break;
        }
        if (is_object) {
          append_excerpt(json(it.key()), depth + 1, out);  // keys can be long too
          *out += ": ";
        }
        append_excerpt(*it, depth + 1, out);
        ++shown;
      }
    }
    *out += is_object ? '}' : ']';
  } else {
    *out += dump(value);
  }
}

}  // namespace

std::string json_excerpt(const json& value) {
  std::string out;
  append_excerpt(value, 0, &out);
  return out;
}

}  // namespace nibble
