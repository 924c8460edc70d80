#include "api/tools/json_call_scanner.h"

#include <nlohmann/json.hpp>

#include "api/tools/tool_parser.h"

namespace mlxm::api {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// The value of a complete raw JSON string token; nullopt-like "" + false when it is not one.
bool decode_string(const std::string& raw, std::string* out) {
  const nlohmann::json j = nlohmann::json::parse(raw, nullptr, false);
  if (!j.is_string()) return false;
  *out = j.get<std::string>();
  return true;
}

}  // namespace

void JsonCallScanner::begin_call(std::vector<ToolCallDelta>* deltas) {
  ToolCallDelta d;
  d.index = next_index_;
  d.first = true;
  d.name = name_;
  deltas->push_back(std::move(d));
  ++n_begun_;
  in_args_ = true;
  args_depth_ = 0;
  args_.clear();
  pending_.clear();
}

void JsonCallScanner::end_call(std::vector<ToolCallDelta>* deltas, std::vector<ToolCall>* done) {
  ToolCallDelta d;
  d.index = next_index_;
  d.arguments = std::move(pending_);
  d.last = true;
  deltas->push_back(std::move(d));
  done->push_back({name_, args_});
  pending_.clear();
  in_args_ = false;
  ++next_index_;
}

void JsonCallScanner::scan_args(char c) {
  if (in_str_) {
    if (esc_) {
      esc_ = false;
    } else if (c == '\\') {
      esc_ = true;
    } else if (c == '"') {
      in_str_ = false;
    }
  } else if (is_ws(c)) {
    return;  // dropped outside strings
  } else if (c == '"') {
    in_str_ = true;
  } else if (c == '{' || c == '[') {
    ++args_depth_;
  } else if (c == '}' || c == ']') {
    --args_depth_;
  }
  args_.push_back(c);
  pending_.push_back(c);
}

void JsonCallScanner::feed(std::string_view text, std::vector<ToolCallDelta>* deltas,
                           std::vector<ToolCall>* done) {
  for (const char c : text) {
    if (failed_) break;
    if (in_args_) {
      scan_args(c);
      if (args_depth_ == 0) end_call(deltas, done);  // the object closed
      continue;
    }
    if (in_str_) {
      if (depth_ == call_depth_) str_.push_back(c);
      if (esc_) {
        esc_ = false;
      } else if (c == '\\') {
        esc_ = true;
      } else if (c == '"') {
        in_str_ = false;
        if (depth_ != call_depth_) continue;
        std::string s;
        if (!decode_string(str_, &s)) {
          failed_ = true;
        } else if (expect_key_) {
          key_ = std::move(s);
        } else if (key_ == "name") {
          name_ = std::move(s);
        }
      }
      continue;
    }
    if (is_ws(c)) continue;
    const bool at_call = call_depth_ > 0 && depth_ == call_depth_;
    if (at_call && !expect_key_ && (key_ == "arguments" || key_ == "parameters")) {
      // The arguments value starts: an object, after the name.
      if (c != '{' || name_.empty()) {
        failed_ = true;
        break;
      }
      key_.clear();
      begin_call(deltas);
      scan_args(c);
      continue;
    }
    switch (c) {
      case '"':
        in_str_ = true;
        esc_ = false;
        str_.clear();
        str_.push_back('"');
        break;
      case '{':
        if (call_depth_ == 0) call_depth_ = depth_ + 1;
        ++depth_;
        if (depth_ == call_depth_) {  // a new call object
          expect_key_ = true;
          key_.clear();
          name_.clear();
        }
        break;
      case '[': ++depth_; break;
      case '}':
      case ']':
        if (depth_ == 0) {
          failed_ = true;
        } else {
          --depth_;
        }
        break;
      case ':':
        if (at_call) expect_key_ = false;
        break;
      case ',':
        if (at_call) {
          expect_key_ = true;
          key_.clear();
        }
        break;
      default: break;  // numbers, literals, separators between calls
    }
  }
  // Report what this step added to the arguments.
  if (in_args_ && !pending_.empty()) {
    ToolCallDelta d;
    d.index = next_index_;
    d.arguments = std::move(pending_);
    deltas->push_back(std::move(d));
    pending_.clear();
  }
}

void JsonCallScanner::finish(std::vector<ToolCallDelta>* deltas, std::vector<ToolCall>* done) {
  if (in_args_) end_call(deltas, done);
}

}  // namespace mlxm::api
