#include "api/common/reply_parser.h"

namespace mlxm::api {
namespace {

bool all_ws(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

ReplyParser::ReplyParser(const ReplyOptions& o) : parallel_(o.parallel_tool_calls) {
  if (o.reasoning) think_.emplace(o.starts_in_reasoning);
  if (o.tool_format != ToolFormat::kNone) tools_.emplace(o.tool_format, o.tools_forced, o.tools);
}

void ReplyParser::add_content(ReplyDelta* out, std::string_view text, bool final) {
  if (!text.empty()) {
    if (all_ws(text)) {
      held_ws_.append(text);
    } else {
      out->content += held_ws_;
      out->content.append(text);
      held_ws_.clear();
    }
  }
  // Trailing whitespace after real content is released at the end; alone it is dropped.
  if (final && !held_ws_.empty()) {
    if (!content_.empty() || !out->content.empty()) out->content += held_ws_;
    held_ws_.clear();
  }
}

void ReplyParser::route(ReplyDelta* out, std::string reasoning, std::string content, bool final) {
  out->reasoning += reasoning;
  if (!tools_) {
    add_content(out, content, final);
  } else {
    ToolStreamEvent ev = tools_->feed(content);
    if (final) {
      ToolStreamEvent tail = tools_->finish();
      ev.content += tail.content;
      for (auto& d : tail.deltas) ev.deltas.push_back(std::move(d));
      for (auto& c : tail.calls) ev.calls.push_back(std::move(c));
    }
    add_content(out, ev.content, final && ev.calls.empty());
    for (auto& d : ev.deltas) {
      if (d.first) held_ws_.clear();  // whitespace between text and a call is not content
      if (!parallel_ && d.index >= 1) continue;
      out->call_deltas.push_back(std::move(d));
    }
    for (auto& c : ev.calls) {
      held_ws_.clear();  // whitespace between text and a call is not content
      if (!parallel_ && calls_.size() + out->calls.size() >= 1) continue;
      out->calls.push_back(std::move(c));
    }
    if (final) add_content(out, "", true);
  }
  reasoning_ += out->reasoning;
  content_ += out->content;
  for (const auto& c : out->calls) calls_.push_back(c);
}

ReplyDelta ReplyParser::feed(std::string_view text) {
  ReplyDelta out;
  if (think_) {
    ReasoningDelta d = think_->feed(text);
    route(&out, std::move(d.reasoning), std::move(d.content), false);
  } else {
    route(&out, "", std::string(text), false);
  }
  return out;
}

ReplyDelta ReplyParser::finish() {
  ReplyDelta out;
  if (think_) {
    ReasoningDelta d = think_->finish();
    route(&out, std::move(d.reasoning), std::move(d.content), true);
  } else {
    route(&out, "", "", true);
  }
  return out;
}

}  // namespace mlxm::api
