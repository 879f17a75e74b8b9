#include "protocol/metaheader.hpp"

#include <algorithm>

namespace d4::protocol {

bool is_valid_extended_type_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

// Deepest nesting of arrays and objects in a JSON text (strings and escapes aware).
int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

std::string depth_error() {
  return "meta header nests arrays/objects deeper than " + std::to_string(kMaxMetaHeaderDepth) + " levels";
}

}  // namespace

std::optional<MetaHeader> parse_meta_header(std::string_view text, std::string* error) {
  auto set_error = [&](std::string msg) {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  if (text.size() > kMaxMetaHeaderSize) return set_error("meta header larger than 100000 bytes");
  if (json_depth(text) > kMaxMetaHeaderDepth) return set_error(depth_error());
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return set_error("meta header is not valid JSON");
  if (!j.is_object()) return set_error("meta header is not a JSON object");
  auto it = j.find("type");
  if (it == j.end()) return set_error("meta header has no \"type\" key");
  if (!it->is_string()) return set_error("meta header \"type\" is not a string");
  std::string type = it->get<std::string>();
  if (!is_valid_extended_type_name(type))
    return set_error("meta header \"type\" is not a valid extended type name (1-64 of [A-Za-z0-9._-])");
  MetaHeader m;
  m.type = std::move(type);
  m.json = std::move(j);
  return m;
}

MetaHeaderAssembler::State MetaHeaderAssembler::feed(std::string_view payload) {
  if (state_ != State::Incomplete) {
    if (state_ == State::Complete) trailing_ += payload.size();
    return state_;
  }
  for (std::size_t i = 0; i < payload.size(); ++i) {
    char c = payload[i];
    if (++received_ > max_size_) {
      state_ = State::Error;
      error_ = "meta header exceeds " + std::to_string(max_size_) +
               " bytes (every byte counts, whitespace and newlines included)";
      return state_;
    }
    if (c == '\n') continue;  // the reference strips newlines from type-2 payloads
    if (!started_) {
      if (c == ' ' || c == '\t' || c == '\r') continue;
      if (c != '{') {
        state_ = State::Error;
        error_ = "meta header does not start with a JSON object";
        return state_;
      }
      started_ = true;
    }
    text_.push_back(c);
    if (in_string_) {
      if (escape_)
        escape_ = false;
      else if (c == '\\')
        escape_ = true;
      else if (c == '"')
        in_string_ = false;
      continue;
    }
    if (c == '"')
      in_string_ = true;
    else if (c == '{' || c == '[') {
      if (++depth_ > kMaxMetaHeaderDepth) {
        state_ = State::Error;
        error_ = depth_error();
        return state_;
      }
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        for (std::size_t k = i + 1; k < payload.size(); ++k)
          if (payload[k] != '\n' && payload[k] != '\r' && payload[k] != ' ') ++trailing_;
        auto m = parse_meta_header(text_, &error_);
        if (!m) {
          state_ = State::Error;
          return state_;
        }
        result_ = std::move(*m);
        state_ = State::Complete;
        return state_;
      }
    }
  }
  return state_;
}

}  // namespace d4::protocol
