#include "api/schema/anthropic_stream.h"

#include <random>

#include "api/schema/anthropic_translate.h"

namespace mlxm::api {
namespace {

const ojson* field(const ojson& o, const char* key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}
std::string str_or(const ojson& o, const char* key, std::string def = "") {
  const ojson* v = field(o, key);
  return v && v->is_string() ? v->get<std::string>() : def;
}
std::optional<int64_t> int_of(const ojson& o, const char* key) {
  const ojson* v = field(o, key);
  if (v && v->is_number_integer()) return v->get<int64_t>();
  return std::nullopt;
}

AnthropicEvent ev(const char* type, ojson data) {
  ojson d = {{"type", type}};
  for (auto it = data.begin(); it != data.end(); ++it) d[it.key()] = std::move(it.value());
  return {type, std::move(d)};
}

}  // namespace

std::string dump_ojson(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::string make_message_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string id = "msg_";
  for (int i = 0; i < 24; ++i) id += kChars[rng() % 62];
  return id;
}

ojson anthropic_message_json(const std::string& id, const std::string& model, ojson content,
                             const std::string& stop_reason, const std::string& stop_sequence,
                             const AnthropicUsage& usage) {
  return ojson{
      {"id", id},
      {"type", "message"},
      {"role", "assistant"},
      {"model", model},
      {"content", std::move(content)},
      {"stop_reason", stop_reason.empty() ? ojson(nullptr) : ojson(stop_reason)},
      {"stop_sequence", stop_sequence.empty() ? ojson(nullptr) : ojson(stop_sequence)},
      {"usage", {{"input_tokens", usage.input_tokens}, {"output_tokens", usage.output_tokens}}}};
}

AnthropicEvent message_start_event(const std::string& id, const std::string& model,
                                   int64_t input_tokens) {
  ojson msg = anthropic_message_json(id, model, ojson::array(), "", "", {input_tokens, 0});
  return ev("message_start", {{"message", std::move(msg)}});
}

AnthropicEvent content_block_start_event(int index, ojson block) {
  return ev("content_block_start", {{"index", index}, {"content_block", std::move(block)}});
}

AnthropicEvent text_block_start_event(int index) {
  return content_block_start_event(index, {{"type", "text"}, {"text", ""}});
}

AnthropicEvent ping_event() {
  return ev("ping", ojson::object());
}

AnthropicEvent text_delta_event(int index, const std::string& text) {
  return ev("content_block_delta",
            {{"index", index}, {"delta", {{"type", "text_delta"}, {"text", text}}}});
}

AnthropicEvent thinking_delta_event(int index, const std::string& thinking) {
  return ev("content_block_delta",
            {{"index", index}, {"delta", {{"type", "thinking_delta"}, {"thinking", thinking}}}});
}

AnthropicEvent input_json_delta_event(int index, const std::string& partial_json) {
  return ev("content_block_delta",
            {{"index", index},
             {"delta", {{"type", "input_json_delta"}, {"partial_json", partial_json}}}});
}

AnthropicEvent content_block_stop_event(int index) {
  return ev("content_block_stop", {{"index", index}});
}

AnthropicEvent message_delta_event(const std::string& stop_reason, const std::string& stop_sequence,
                                   int64_t output_tokens, std::optional<int64_t> input_tokens) {
  ojson usage = ojson::object();
  if (input_tokens) usage["input_tokens"] = *input_tokens;
  usage["output_tokens"] = output_tokens;
  return ev("message_delta",
            {{"delta",
              {{"stop_reason", stop_reason},
               {"stop_sequence", stop_sequence.empty() ? ojson(nullptr) : ojson(stop_sequence)}}},
             {"usage", std::move(usage)}});
}

AnthropicEvent message_stop_event() {
  return ev("message_stop", ojson::object());
}

AnthropicEvent error_event(const std::string& type, const std::string& message) {
  return ev("error", {{"error", {{"type", type}, {"message", message}}}});
}

// ---- OpenAI chunks -> Anthropic events ----------------------------------------------------

OpenAiToAnthropicStream::OpenAiToAnthropicStream(std::string message_id, std::string model,
                                                 int64_t input_tokens)
    : id_(std::move(message_id)), model_(std::move(model)), input_tokens_(input_tokens) {}

void OpenAiToAnthropicStream::start(std::vector<AnthropicEvent>* out) {
  if (started_) return;
  started_ = true;
  out->push_back(message_start_event(id_, model_, input_tokens_));
  out->push_back(ping_event());
}

void OpenAiToAnthropicStream::close_block(std::vector<AnthropicEvent>* out) {
  if (open_block_ < 0) return;
  out->push_back(content_block_stop_event(open_block_));
  open_block_ = -1;
}

std::vector<AnthropicEvent> OpenAiToAnthropicStream::on_chunk(const ojson& chunk) {
  std::vector<AnthropicEvent> out;
  if (finished_) return out;
  if (const ojson* err = field(chunk, "error")) {
    finished_ = true;
    const int64_t code = int_of(*err, "code").value_or(500);
    out.push_back(error_event(code == 429   ? "rate_limit_error"
                              : code == 503 ? "overloaded_error"
                                            : "api_error",
                              str_or(*err, "message", "upstream error")));
    return out;
  }
  start(&out);
  if (const ojson* u = field(chunk, "usage"); u && u->is_object()) {
    if (auto n = int_of(*u, "completion_tokens")) output_tokens_ = *n;
    if (auto n = int_of(*u, "prompt_tokens")) upstream_input_tokens_ = *n;
  }
  const ojson* choices = field(chunk, "choices");
  if (!choices || !choices->is_array()) return out;
  for (const auto& c : *choices) {
    if (int_of(c, "index").value_or(0) != 0) continue;  // only choice 0 maps to a message
    const ojson* delta = field(c, "delta");
    if (delta && delta->is_object()) {
      const std::string text = str_or(*delta, "content");
      if (!text.empty()) {
        if (open_block_ < 0 || !open_is_text_) {
          close_block(&out);
          open_block_ = n_blocks_++;
          open_is_text_ = true;
          out.push_back(text_block_start_event(open_block_));
        }
        out.push_back(text_delta_event(open_block_, text));
      }
      if (const ojson* tcs = field(*delta, "tool_calls"); tcs && tcs->is_array()) {
        for (const auto& tc : *tcs) {
          const int64_t ti = int_of(tc, "index").value_or(0);
          const ojson empty = ojson::object();
          const ojson* fn = field(tc, "function");
          const ojson& f = fn ? *fn : empty;
          auto it = tool_block_.find(ti);
          if (it == tool_block_.end()) {
            close_block(&out);
            open_block_ = n_blocks_++;
            open_is_text_ = false;
            it = tool_block_.emplace(ti, open_block_).first;
            out.push_back(content_block_start_event(
                open_block_, {{"type", "tool_use"},
                              {"id", str_or(tc, "id", "toolu_" + id_ + "_" + std::to_string(ti))},
                              {"name", str_or(f, "name")},
                              {"input", ojson::object()}}));
          }
          const std::string args = str_or(f, "arguments");
          if (!args.empty()) out.push_back(input_json_delta_event(it->second, args));
        }
      }
    }
    if (const ojson* fr = field(c, "finish_reason"); fr && fr->is_string()) {
      stop_reason_ = openai_finish_to_anthropic_stop(fr->get<std::string>());
    }
  }
  return out;
}

std::vector<AnthropicEvent> OpenAiToAnthropicStream::finish() {
  std::vector<AnthropicEvent> out;
  if (finished_) return out;
  start(&out);
  finished_ = true;
  close_block(&out);
  out.push_back(message_delta_event(stop_reason_, "", output_tokens_, upstream_input_tokens_));
  out.push_back(message_stop_event());
  return out;
}

// ---- Anthropic events -> OpenAI chunks ----------------------------------------------------

AnthropicToOpenAiStream::AnthropicToOpenAiStream(int64_t created, bool include_usage)
    : created_(created), include_usage_(include_usage) {}

ojson AnthropicToOpenAiStream::chunk(ojson delta, const ojson& finish_reason) const {
  ojson c = {{"id", id_},
             {"object", "chat.completion.chunk"},
             {"created", created_},
             {"model", model_},
             {"choices", ojson::array({{{"index", 0},
                                        {"delta", std::move(delta)},
                                        {"logprobs", nullptr},
                                        {"finish_reason", finish_reason}}})}};
  if (include_usage_) c["usage"] = nullptr;
  return c;
}

std::vector<ojson> AnthropicToOpenAiStream::on_event(const ojson& e) {
  std::vector<ojson> out;
  if (done_) return out;
  const std::string type = str_or(e, "type");
  if (type == "message_start") {
    const ojson* m = field(e, "message");
    const ojson empty = ojson::object();
    const ojson& msg = m ? *m : empty;
    id_ = str_or(msg, "id");
    model_ = str_or(msg, "model");
    if (const ojson* u = field(msg, "usage")) {
      cached_tokens_ = int_of(*u, "cache_read_input_tokens").value_or(0);
      input_tokens_ = int_of(*u, "input_tokens").value_or(0) + cached_tokens_ +
                      int_of(*u, "cache_creation_input_tokens").value_or(0);
      output_tokens_ = int_of(*u, "output_tokens").value_or(0);
    }
    out.push_back(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
  } else if (type == "content_block_start") {
    const ojson* b = field(e, "content_block");
    if (b && str_or(*b, "type") == "tool_use") {
      const int k = static_cast<int>(tool_index_.size());
      tool_index_[int_of(e, "index").value_or(0)] = k;
      out.push_back(chunk(
          {{"tool_calls",
            ojson::array({{{"index", k},
                           {"id", str_or(*b, "id")},
                           {"type", "function"},
                           {"function", {{"name", str_or(*b, "name")}, {"arguments", ""}}}}})}},
          nullptr));
    }
  } else if (type == "content_block_delta") {
    const ojson* d = field(e, "delta");
    if (!d) return out;
    const std::string dt = str_or(*d, "type");
    if (dt == "text_delta") {
      out.push_back(chunk({{"content", str_or(*d, "text")}}, nullptr));
    } else if (dt == "thinking_delta") {
      out.push_back(chunk({{"reasoning_content", str_or(*d, "thinking")}}, nullptr));
    } else if (dt == "input_json_delta") {
      auto it = tool_index_.find(int_of(e, "index").value_or(0));
      if (it != tool_index_.end()) {
        out.push_back(
            chunk({{"tool_calls",
                    ojson::array({{{"index", it->second},
                                   {"function", {{"arguments", str_or(*d, "partial_json")}}}}})}},
                  nullptr));
      }
    }
  } else if (type == "message_delta") {
    if (const ojson* u = field(e, "usage")) {
      if (auto n = int_of(*u, "output_tokens")) output_tokens_ = *n;
      if (auto n = int_of(*u, "input_tokens")) input_tokens_ = *n + cached_tokens_;
    }
    const ojson* d = field(e, "delta");
    const std::string stop = d ? str_or(*d, "stop_reason") : "";
    if (!stop.empty()) out.push_back(chunk(ojson::object(), anthropic_stop_to_openai_finish(stop)));
  } else if (type == "message_stop") {
    done_ = true;
    if (include_usage_) {
      out.push_back({{"id", id_},
                     {"object", "chat.completion.chunk"},
                     {"created", created_},
                     {"model", model_},
                     {"choices", ojson::array()},
                     {"usage",
                      {{"prompt_tokens", input_tokens_},
                       {"completion_tokens", output_tokens_},
                       {"total_tokens", input_tokens_ + output_tokens_},
                       {"prompt_tokens_details", {{"cached_tokens", cached_tokens_}}}}}});
    }
  } else if (type == "error") {
    done_ = true;
    const ojson* err = field(e, "error");
    const ojson empty = ojson::object();
    const ojson& er = err ? *err : empty;
    out.push_back({{"error",
                    {{"message", str_or(er, "message", "upstream error")},
                     {"type", str_or(er, "type", "api_error")},
                     {"param", nullptr},
                     {"code", nullptr}}}});
  }
  return out;
}

}  // namespace mlxm::api
