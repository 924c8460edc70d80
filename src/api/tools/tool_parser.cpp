#include "api/tools/tool_parser.h"

#include <algorithm>

namespace mlxm::api {
namespace {

using nlohmann::json;

struct Markers {
  std::string_view open;   // "" = no marker (starts at the reply's first '{' / '[')
  std::string_view close;  // "" = the call runs to the end of the output
};

Markers markers(ToolFormat f) {
  switch (f) {
    case ToolFormat::kHermes:
    case ToolFormat::kQwen3Coder: return {"<tool_call>", "</tool_call>"};
    case ToolFormat::kLlama3: return {"<|python_tag|>", ""};
    case ToolFormat::kMistral: return {"[TOOL_CALLS]", ""};
    case ToolFormat::kJson:
    case ToolFormat::kNone: return {"", ""};
  }
  return {"", ""};
}

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// Length of the longest suffix of `s` that is a proper prefix of `marker`.
size_t partial_marker_suffix(std::string_view s, std::string_view marker) {
  if (marker.empty()) return 0;
  for (size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

// Consecutive JSON objects/arrays separated by whitespace, ';' or ','. False when anything
// else is in between or a value is unterminated.
bool split_json_values(std::string_view s, std::vector<std::string_view>* out) {
  size_t i = 0;
  while (true) {
    while (i < s.size() && (is_ws(s[i]) || s[i] == ';' || s[i] == ',')) ++i;
    if (i == s.size()) return !out->empty();
    if (s[i] != '{' && s[i] != '[') return false;
    const size_t start = i;
    int depth = 0;
    bool in_str = false, esc = false;
    for (; i < s.size(); ++i) {
      const char c = s[i];
      if (in_str) {
        if (esc) {
          esc = false;
        } else if (c == '\\') {
          esc = true;
        } else if (c == '"') {
          in_str = false;
        }
        continue;
      }
      if (c == '"') {
        in_str = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) break;
      }
    }
    if (i == s.size()) return false;
    out->push_back(s.substr(start, i + 1 - start));
    ++i;
  }
}

// {"name": ..., "arguments"|"parameters": {...} or "<json text>"} -> a call.
bool call_from_json(const json& j, std::vector<ToolCall>* out) {
  if (!j.is_object()) return false;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get<std::string>().empty()) return false;
  json args = json::object();
  for (const char* key : {"arguments", "parameters"}) {
    auto a = j.find(key);
    if (a == j.end()) continue;
    if (a->is_string()) {
      args = json::parse(a->get<std::string>(), nullptr, false);
    } else {
      args = *a;
    }
    break;
  }
  if (!args.is_object()) return false;
  out->push_back({name->get<std::string>(), args.dump()});
  return true;
}

bool calls_from_json_text(std::string_view text, std::vector<ToolCall>* out) {
  std::vector<std::string_view> values;
  if (!split_json_values(text, &values)) return false;
  std::vector<ToolCall> calls;
  for (std::string_view v : values) {
    json j = json::parse(v, nullptr, false);
    if (j.is_discarded()) return false;
    if (j.is_array()) {
      if (j.empty()) return false;
      for (const json& e : j) {
        if (!call_from_json(e, &calls)) return false;
      }
    } else if (!call_from_json(j, &calls)) {
      return false;
    }
  }
  out->insert(out->end(), calls.begin(), calls.end());
  return true;
}

// The JSON type a tool declares for a parameter ("" when unknown).
std::string param_type(const json& tools, const std::string& fn, const std::string& param) {
  if (!tools.is_array()) return "";
  for (const json& t : tools) {
    const json* f = t.contains("function") ? &t["function"] : &t;
    if (!f->is_object() || f->value("name", "") != fn) continue;
    const json* p = f->contains("parameters") ? &(*f)["parameters"] : nullptr;
    if (!p || !p->is_object() || !p->contains("properties")) return "";
    const json& props = (*p)["properties"];
    if (!props.is_object() || !props.contains(param) || !props[param].is_object()) return "";
    const json& ty = props[param]["type"];
    return ty.is_string() ? ty.get<std::string>() : "";
  }
  return "";
}

// <function=NAME><parameter=P>value</parameter>...</function>, possibly several.
bool calls_from_xml(std::string_view body, const json& tools, std::vector<ToolCall>* out) {
  std::vector<ToolCall> calls;
  std::string_view s = trim(body);
  while (!s.empty()) {
    constexpr std::string_view kFn = "<function=", kFnEnd = "</function>";
    constexpr std::string_view kP = "<parameter=", kPEnd = "</parameter>";
    if (s.substr(0, kFn.size()) != kFn) return false;
    s.remove_prefix(kFn.size());
    const size_t gt = s.find('>');
    if (gt == std::string_view::npos || gt == 0) return false;
    const std::string name(trim(s.substr(0, gt)));
    s.remove_prefix(gt + 1);
    json args = json::object();
    while (true) {
      s = trim(s);
      if (s.substr(0, kFnEnd.size()) == kFnEnd) {
        s.remove_prefix(kFnEnd.size());
        break;
      }
      if (s.substr(0, kP.size()) != kP) return false;
      s.remove_prefix(kP.size());
      const size_t pg = s.find('>');
      if (pg == std::string_view::npos || pg == 0) return false;
      const std::string pname(trim(s.substr(0, pg)));
      s.remove_prefix(pg + 1);
      const size_t end = s.find(kPEnd);
      if (end == std::string_view::npos) return false;
      std::string_view value = s.substr(0, end);
      if (!value.empty() && value.front() == '\n') value.remove_prefix(1);
      if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
      s.remove_prefix(end + kPEnd.size());
      const std::string type = param_type(tools, name, pname);
      json v = type == "string" ? json(nullptr) : json::parse(value, nullptr, false);
      if (type == "string" || v.is_discarded()) {
        v = std::string(value);
      }
      args[pname] = std::move(v);
    }
    calls.push_back({name, args.dump()});
    s = trim(s);
  }
  if (calls.empty()) return false;
  out->insert(out->end(), calls.begin(), calls.end());
  return true;
}

// name[ARGS]{...} (Mistral tokenizer v11+), possibly several separated by [TOOL_CALLS].
bool calls_from_mistral_args(std::string_view body, std::vector<ToolCall>* out) {
  std::vector<ToolCall> calls;
  std::string_view s = body;
  while (true) {
    s = trim(s);
    if (s.empty()) break;
    if (s.substr(0, 12) == "[TOOL_CALLS]") {
      s.remove_prefix(12);
      continue;
    }
    const size_t a = s.find("[ARGS]");
    if (a == std::string_view::npos || a == 0) return false;
    const std::string name(trim(s.substr(0, a)));
    s.remove_prefix(a + 6);
    // The arguments object runs to the next marker (or the end).
    const size_t next = s.find("[TOOL_CALLS]");
    std::string_view args_text = s.substr(0, next);
    json args = json::parse(trim(args_text), nullptr, false);
    if (!args.is_object()) return false;
    calls.push_back({name, args.dump()});
    if (next == std::string_view::npos) break;
    s.remove_prefix(next);
  }
  if (calls.empty()) return false;
  out->insert(out->end(), calls.begin(), calls.end());
  return true;
}

// Forced calls of the JSON families stream their arguments (JsonCallScanner).
bool streams_calls(ToolFormat f, bool forced) {
  return forced && (f == ToolFormat::kHermes || f == ToolFormat::kLlama3 ||
                    f == ToolFormat::kMistral || f == ToolFormat::kJson);
}

}  // namespace

const char* tool_format_name(ToolFormat f) {
  switch (f) {
    case ToolFormat::kNone: return "none";
    case ToolFormat::kHermes: return "hermes";
    case ToolFormat::kLlama3: return "llama3";
    case ToolFormat::kMistral: return "mistral";
    case ToolFormat::kQwen3Coder: return "qwen3_coder";
    case ToolFormat::kJson: return "json";
  }
  return "none";
}

std::optional<ToolFormat> parse_tool_format(std::string_view name) {
  for (ToolFormat f : {ToolFormat::kNone, ToolFormat::kHermes, ToolFormat::kLlama3,
                       ToolFormat::kMistral, ToolFormat::kQwen3Coder, ToolFormat::kJson}) {
    if (name == tool_format_name(f)) return f;
  }
  return std::nullopt;
}

ToolFormat detect_tool_format(std::string_view t) {
  const auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("<function=") && has("<parameter=")) return ToolFormat::kQwen3Coder;
  if (has("<tool_call>")) return ToolFormat::kHermes;
  if (has("[TOOL_CALLS]")) return ToolFormat::kMistral;
  if (has("<|python_tag|>") || has("<|eom_id|>") ||
      (has("<|start_header_id|>") && has("tools"))) {
    return ToolFormat::kLlama3;
  }
  if (has("tools")) return ToolFormat::kJson;
  return ToolFormat::kNone;
}

ToolCallStreamer::ToolCallStreamer(ToolFormat format, bool forced, json tools)
    : format_(format), forced_(forced), tools_(std::move(tools)) {
  if (forced_ && format_ == ToolFormat::kMistral) {
    state_ = State::kInCall;  // the grammar leaves the special [TOOL_CALLS] token out
  }
}

bool ToolCallStreamer::parse_body(std::string_view body, std::vector<ToolCall>* out) const {
  switch (format_) {
    case ToolFormat::kQwen3Coder:
      return calls_from_xml(body, tools_, out) || calls_from_json_text(body, out);
    case ToolFormat::kMistral:
      return calls_from_json_text(body, out) || calls_from_mistral_args(body, out);
    case ToolFormat::kNone: return false;
    default: return calls_from_json_text(body, out);
  }
}

void ToolCallStreamer::scan(ToolStreamEvent* ev, bool final) {
  const Markers m = markers(format_);
  const bool leading_json = format_ == ToolFormat::kLlama3 || format_ == ToolFormat::kJson;
  while (true) {
    if (state_ == State::kStart) {
      // Only whitespace so far: wait for the first real character.
      const size_t p = buf_.find_first_not_of(" \n\t\r");
      if (p == std::string::npos) {
        if (final) {
          ev->content += buf_;
          buf_.clear();
        }
        return;
      }
      if (format_ == ToolFormat::kNone) {
        state_ = State::kContent;
      } else if (leading_json && (buf_[p] == '{' || buf_[p] == '[')) {
        buf_.erase(0, p);
        marker_.clear();
        state_ = State::kInCall;
      } else {
        state_ = State::kContent;
      }
      continue;
    }
    if (state_ == State::kContent) {
      if (format_ == ToolFormat::kNone || m.open.empty()) {
        ev->content += buf_;
        buf_.clear();
        return;
      }
      const size_t p = buf_.find(m.open);
      if (p != std::string::npos) {
        // Whitespace right before a call is dropped (given back if the call is not one).
        size_t cut = p;
        while (cut > 0 && is_ws(buf_[cut - 1])) --cut;
        ev->content += buf_.substr(0, cut);
        pre_ws_ = buf_.substr(cut, p - cut);
        marker_ = std::string(m.open);
        buf_.erase(0, p + m.open.size());
        state_ = State::kInCall;
        continue;
      }
      // Hold back a partial marker and trailing whitespace (dropped if a call follows).
      size_t keep = final ? 0 : partial_marker_suffix(buf_, m.open);
      if (!final) {
        while (keep < buf_.size() && is_ws(buf_[buf_.size() - keep - 1])) ++keep;
      } else if (n_calls_ > 0 && trim(buf_).empty()) {
        buf_.clear();  // whitespace after the last call
      }
      ev->content += buf_.substr(0, buf_.size() - keep);
      buf_.erase(0, buf_.size() - keep);
      return;
    }
    // In a call.
    const bool streams = streams_calls(format_, forced_);
    if (!m.close.empty() && !marker_.empty()) {
      const size_t p = buf_.find(m.close);
      if (streams) {
        stream_body(ev, p != std::string::npos ? p
                        : final                 ? buf_.size()
                                                : buf_.size() - partial_marker_suffix(buf_, m.close));
      }
      if (p == std::string::npos && !final) return;
      const std::string body = buf_.substr(0, p == std::string::npos ? buf_.size() : p);
      if (!end_streamed_body(ev)) {
        const size_t n_before = ev->calls.size();
        if (parse_body(body, &ev->calls)) {
          add_one_piece(ev, n_before);
        } else {
          // Not a call after all: the text goes out as it came.
          ev->content +=
              pre_ws_ + marker_ + body + (p == std::string::npos ? "" : std::string(m.close));
        }
      }
      buf_.erase(0, p == std::string::npos ? buf_.size() : p + m.close.size());
      marker_.clear();
      pre_ws_.clear();
      state_ = State::kContent;
      if (final && buf_.empty()) return;
      continue;
    }
    // A call that runs to the end of the output.
    if (streams) stream_body(ev, buf_.size());
    if (!final) return;
    if (!end_streamed_body(ev)) {
      const size_t n_before = ev->calls.size();
      if (parse_body(buf_, &ev->calls)) {
        add_one_piece(ev, n_before);
      } else {
        ev->content += pre_ws_ + marker_ + buf_;
      }
    }
    pre_ws_.clear();
    buf_.clear();
    marker_.clear();
    state_ = State::kContent;
    return;
  }
}

void ToolCallStreamer::stream_body(ToolStreamEvent* ev, size_t body_end) {
  if (!scanner_) {
    scanner_.emplace(n_calls_);
    scanned_ = 0;
  }
  if (body_end <= scanned_) return;
  const size_t n_before = ev->calls.size();
  scanner_->feed(std::string_view(buf_).substr(scanned_, body_end - scanned_), &ev->deltas,
                 &ev->calls);
  scanned_ = body_end;
  n_calls_ += static_cast<int>(ev->calls.size() - n_before);
}

bool ToolCallStreamer::end_streamed_body(ToolStreamEvent* ev) {
  if (!scanner_) return false;
  const bool begun = scanner_->n_begun() > 0;
  if (begun) {
    const size_t n_before = ev->calls.size();
    scanner_->finish(&ev->deltas, &ev->calls);
    n_calls_ += static_cast<int>(ev->calls.size() - n_before);
  }
  scanner_.reset();
  scanned_ = 0;
  return begun;
}

void ToolCallStreamer::add_one_piece(ToolStreamEvent* ev, size_t n_before) {
  for (size_t k = n_before; k < ev->calls.size(); ++k) {
    ToolCallDelta d;
    d.index = n_calls_++;
    d.first = d.last = true;
    d.name = ev->calls[k].name;
    d.arguments = ev->calls[k].arguments;
    ev->deltas.push_back(std::move(d));
  }
}

ToolStreamEvent ToolCallStreamer::feed(std::string_view text) {
  ToolStreamEvent ev;
  buf_.append(text);
  scan(&ev, false);
  return ev;
}

ToolStreamEvent ToolCallStreamer::finish() {
  ToolStreamEvent ev;
  scan(&ev, true);
  return ev;
}

ParsedToolOutput parse_tool_calls(ToolFormat format, std::string_view text, bool forced,
                                  const json& tools) {
  ToolCallStreamer s(format, forced, tools);
  ParsedToolOutput out;
  ToolStreamEvent first = s.feed(text), last = s.finish();
  for (ToolStreamEvent* ev : {&first, &last}) {
    out.content += ev->content;
    for (auto& c : ev->calls) out.calls.push_back(std::move(c));
  }
  return out;
}

}  // namespace mlxm::api
