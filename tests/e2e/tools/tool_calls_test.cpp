// Tool calling and reasoning over real HTTP (OpenAI and Anthropic endpoints) with a tiny
// random-weight Qwen3-template model: its output is noise, so every forced call that parses
// proves the grammar was enforced; streamed and non-streamed replies of the same seed must
// carry the same calls and the same reasoning/content split.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "e2e/tools/tools_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

const char* kModel = "tiny-qwen3";

ojson tools() {
  return ojson::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
      "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 10},
        "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"]}}},
    {"type": "function", "function": {"name": "get_time",
      "parameters": {"type": "object", "properties": {
        "zone": {"type": "string", "maxLength": 6}, "hours": {"type": "integer"}},
        "required": ["zone"]}}}])");
}

// The arguments of a forced call: a JSON object with the tool's required keys.
void expect_valid_call(const std::string& name, const std::string& args) {
  const json a = json::parse(args, nullptr, false);
  ASSERT_TRUE(a.is_object()) << name << ": " << args;
  if (name == "get_weather") {
    ASSERT_TRUE(a.contains("city") && a["city"].is_string()) << args;
    EXPECT_TRUE(a["unit"] == "c" || a["unit"] == "f") << args;
  } else {
    ASSERT_EQ(name, "get_time");
    ASSERT_TRUE(a.contains("zone") && a["zone"].is_string()) << args;
    if (a.contains("hours")) { EXPECT_TRUE(a["hours"].is_number_integer()) << args; }
  }
}

struct StreamedCall {
  std::string id, name, arguments;
  int n_fragments = 0;      // non-empty arguments pieces
  bool head_ok = false;     // the first delta had index, id, type, name and arguments ""
};

// tool_calls deltas of choice 0 reassembled by index; reasoning and content concatenated.
struct Reassembled {
  std::map<int, StreamedCall> calls;
  std::string reasoning, content, finish;
};

Reassembled reassemble(const SseRead& s) {
  Reassembled r;
  for (const auto& ev : s.events) {
    if (!ev.contains("choices") || ev["choices"].empty()) continue;
    const json& c = ev["choices"][0];
    const json& d = c["delta"];
    if (d.contains("reasoning_content")) r.reasoning += d["reasoning_content"].get<std::string>();
    if (d.contains("content") && d["content"].is_string()) r.content += d["content"].get<std::string>();
    if (d.contains("tool_calls")) {
      for (const json& tc : d["tool_calls"]) {
        const bool first = !r.calls.count(tc["index"].get<int>());
        StreamedCall& sc = r.calls[tc["index"].get<int>()];
        if (first) {
          sc.head_ok = tc.contains("id") && tc.value("type", "") == "function" &&
                       tc.contains("function") && tc["function"].contains("name") &&
                       tc["function"].value("arguments", "-") == "";
        }
        if (tc.contains("id")) sc.id = tc["id"];
        if (tc.contains("function")) {
          if (tc["function"].contains("name")) sc.name = tc["function"]["name"];
          if (tc["function"].contains("arguments")) {
            const std::string piece = tc["function"]["arguments"];
            sc.arguments += piece;
            if (!piece.empty()) ++sc.n_fragments;
          }
        }
      }
    }
    if (c["finish_reason"].is_string()) r.finish = c["finish_reason"];
  }
  return r;
}

class ToolCallsTest : public ::testing::Test {

 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(
        model_server(tiny_qwen3_dir(), {{"MLX_SERVER_MAX_MODEL_LEN", "2048"}}));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }

  static ojson chat_body(int seed, ojson tool_choice, bool parallel) {
    ojson b = {{"model", kModel},
               {"messages", {{{"role", "user"}, {"content", "What is the weather in Bern?"}}}},
               {"tools", tools()},
               {"max_tokens", 200},
               {"seed", seed},
               {"temperature", 1.0},
               {"parallel_tool_calls", parallel}};
    if (!tool_choice.is_null()) b["tool_choice"] = tool_choice;
    return b;
  }
  static ServerProcess* server_;
};
ServerProcess* ToolCallsTest::server_ = nullptr;

TEST_F(ToolCallsTest, RequiredAlwaysYieldsValidCalls) {
  for (int seed = 0; seed < 8; ++seed) {
    auto r = server_->post("/v1/chat/completions", chat_body(seed, "required", false).dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    const json& choice = j["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "tool_calls") << r.body;
    const json& msg = choice["message"];
    ASSERT_TRUE(msg["tool_calls"].is_array()) << r.body;
    ASSERT_EQ(msg["tool_calls"].size(), 1u) << r.body;  // parallel_tool_calls false
    EXPECT_TRUE(msg["content"].is_null()) << r.body;  // markers never leak into content
    const json& tc = msg["tool_calls"][0];
    EXPECT_EQ(tc["type"], "function");
    EXPECT_EQ(tc["id"].get<std::string>().rfind("call_", 0), 0u);
    expect_valid_call(tc["function"]["name"], tc["function"]["arguments"]);
  }
}

TEST_F(ToolCallsTest, NamedToolIsTheOneCalled) {
  const ojson named = {{"type", "function"}, {"function", {{"name", "get_time"}}}};
  for (int seed = 0; seed < 4; ++seed) {
    auto r = server_->post("/v1/chat/completions", chat_body(seed, named, false).dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    const json& calls = j["choices"][0]["message"]["tool_calls"];
    ASSERT_EQ(calls.size(), 1u) << r.body;
    EXPECT_EQ(calls[0]["function"]["name"], "get_time");
    expect_valid_call("get_time", calls[0]["function"]["arguments"]);
  }
}

TEST_F(ToolCallsTest, ParallelCallsAreAllValid) {
  for (int seed = 0; seed < 3; ++seed) {
    auto r = server_->post("/v1/chat/completions", chat_body(seed, "required", true).dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    const json& choice = j["choices"][0];
    const json& calls = choice["message"]["tool_calls"];
    ASSERT_GE(calls.size(), 1u) << r.body;
    for (const json& c : calls) expect_valid_call(c["function"]["name"], c["function"]["arguments"]);
    std::set<std::string> ids;
    for (const json& c : calls) ids.insert(c["id"].get<std::string>());
    EXPECT_EQ(ids.size(), calls.size());
  }
}

TEST_F(ToolCallsTest, StreamedDeltasReassembleToTheNonStreamedCalls) {
  for (int seed = 0; seed < 3; ++seed) {
    ojson body = chat_body(seed, "required", seed == 2);
    auto whole = server_->post("/v1/chat/completions", body.dump());
    ASSERT_EQ(whole.status, 200) << whole.body;
    const json wj = whole.json();
    const json& msg = wj["choices"][0]["message"];
    body["stream"] = true;
    SseRead s = post_stream_ordered(*server_, "/v1/chat/completions", body);
    ASSERT_EQ(s.status, 200);
    ASSERT_TRUE(s.done);
    Reassembled r = reassemble(s);
    EXPECT_EQ(r.finish, wj["choices"][0]["finish_reason"]);
    EXPECT_EQ(r.content, "");
    ASSERT_EQ(r.calls.size(), msg["tool_calls"].size());
    for (size_t k = 0; k < r.calls.size(); ++k) {
      ASSERT_TRUE(r.calls.count(static_cast<int>(k))) << "tool_calls indices are 0..n-1";
      const StreamedCall& sc = r.calls[static_cast<int>(k)];
      EXPECT_EQ(sc.id.rfind("call_", 0), 0u);
      EXPECT_EQ(sc.name, msg["tool_calls"][k]["function"]["name"]);
      EXPECT_EQ(sc.arguments, msg["tool_calls"][k]["function"]["arguments"]);
      EXPECT_TRUE(sc.head_ok) << "first delta: index, id, type, name, arguments \"\"";
      // Forced calls stream their arguments as they are generated, not in one piece.
      EXPECT_GT(sc.n_fragments, 1) << sc.arguments;
    }
  }
}

TEST_F(ToolCallsTest, AutoAndNoneKeepPlainContentIdenticalStreamedOrNot) {
  for (const char* choice : {"auto", "none"}) {
    ojson body = chat_body(5, choice, true);
    body["max_tokens"] = 24;
    auto whole = server_->post("/v1/chat/completions", body.dump());
    ASSERT_EQ(whole.status, 200) << whole.body;
    const json wj = whole.json();
    const json& c = wj["choices"][0];
    body["stream"] = true;
    SseRead s = post_stream_ordered(*server_, "/v1/chat/completions", body);
    ASSERT_EQ(s.status, 200);
    Reassembled r = reassemble(s);
    EXPECT_EQ(r.finish, c["finish_reason"]);
    const json& content = c["message"]["content"];
    EXPECT_EQ(r.content, content.is_string() ? content.get<std::string>() : "");
    EXPECT_EQ(r.calls.size(), c["message"].contains("tool_calls") ? c["message"]["tool_calls"].size() : 0u);
  }
}

TEST_F(ToolCallsTest, ReasoningSplitStreamedAndNot) {
  ojson body = {{"model", kModel},
                {"messages", {{{"role", "user"}, {"content", "Think first."}}}},
                {"max_tokens", 40},
                {"seed", 3},
                {"chat_template_kwargs", {{"enable_thinking", true}}}};
  auto whole = server_->post("/v1/chat/completions", body.dump());
  ASSERT_EQ(whole.status, 200) << whole.body;
  const json wj = whole.json();
  const json& msg = wj["choices"][0]["message"];
  ASSERT_TRUE(msg.contains("reasoning_content")) << whole.body;
  const std::string reasoning = msg["reasoning_content"];
  EXPECT_FALSE(reasoning.empty());
  EXPECT_EQ(reasoning.find("<think>"), std::string::npos);
  body["stream"] = true;
  SseRead s = post_stream_ordered(*server_, "/v1/chat/completions", body);
  ASSERT_EQ(s.status, 200);
  Reassembled r = reassemble(s);
  EXPECT_EQ(r.reasoning, reasoning);
  EXPECT_EQ(r.content, msg["content"].is_string() ? msg["content"].get<std::string>() : "");

  // Without the kwarg the template does not open a think block: no reasoning.
  body.erase("chat_template_kwargs");
  body["stream"] = false;
  auto plain = server_->post("/v1/chat/completions", body.dump());
  ASSERT_EQ(plain.status, 200);
  const json pj = plain.json();
  const json& pm = pj["choices"][0]["message"];
  EXPECT_FALSE(pm.contains("reasoning_content") && !pm["reasoning_content"].get<std::string>().empty() &&
               pm["content"].get<std::string>().empty())
      << plain.body;
}

TEST_F(ToolCallsTest, BadToolChoiceIs400) {
  const std::vector<ojson> bad = {
      {{"type", "function"}, {"function", {{"name", "nope"}}}},
      "sometimes",
      {{"type", "function"}},
  };
  for (const ojson& tc : bad) {
    auto r = server_->post("/v1/chat/completions", chat_body(0, tc, true).dump());
    EXPECT_EQ(r.status, 400) << tc.dump() << " " << r.body;
    EXPECT_EQ(r.json()["error"]["param"], "tool_choice") << r.body;
  }
  ojson no_tools = chat_body(0, "required", true);
  no_tools.erase("tools");
  auto r = server_->post("/v1/chat/completions", no_tools.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  ojson bad_tools = chat_body(0, nullptr, true);
  bad_tools["tools"] = ojson::array({{{"type", "function"}}});
  r = server_->post("/v1/chat/completions", bad_tools.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("tools[0]"), std::string::npos) << r.body;
}

// --- Anthropic /v1/messages ---

ojson anthropic_tools() {
  ojson out = ojson::array();
  for (const ojson& t : tools()) {
    out.push_back({{"name", t["function"]["name"]},
                   {"description", t["function"].value("description", "")},
                   {"input_schema", t["function"]["parameters"]}});
  }
  return out;
}

ojson messages_body(int seed, ojson tool_choice) {
  return {{"model", kModel},
          {"max_tokens", 200},
          {"messages", {{{"role", "user"}, {"content", "Weather in Bern?"}}}},
          {"tools", anthropic_tools()},
          {"tool_choice", tool_choice},
          {"temperature", 1.0},
          {"metadata", {{"user_id", "seed-" + std::to_string(seed)}}}};
}

// Anthropic events (data lines) reassembled into content blocks.
json reassemble_blocks(const SseRead& s, std::string* stop_reason,
                       std::map<int, int>* fragments = nullptr) {
  json blocks = json::array();
  std::map<int, std::string> partial;
  for (const json& ev : s.events) {
    const std::string type = ev.value("type", "");
    if (type == "content_block_start") {
      blocks.push_back(ev["content_block"]);
    } else if (type == "content_block_delta") {
      const int i = ev["index"];
      const json& d = ev["delta"];
      if (d["type"] == "text_delta") blocks[i]["text"] = blocks[i]["text"].get<std::string>() + d["text"].get<std::string>();
      if (d["type"] == "thinking_delta") blocks[i]["thinking"] = blocks[i]["thinking"].get<std::string>() + d["thinking"].get<std::string>();
      if (d["type"] == "input_json_delta") {
        partial[i] += d["partial_json"].get<std::string>();
        if (fragments) ++(*fragments)[i];
      }
    } else if (type == "content_block_stop") {
      const int i = ev["index"];
      if (partial.count(i)) blocks[i]["input"] = json::parse(partial[i]);
    } else if (type == "message_delta") {
      *stop_reason = ev["delta"]["stop_reason"];
    }
  }
  return blocks;
}

TEST_F(ToolCallsTest, AnthropicForcedToolUseStreamedAndNot) {
  for (int seed = 0; seed < 4; ++seed) {
    const ojson tc = seed % 2 ? ojson{{"type", "tool"}, {"name", "get_weather"}, {"disable_parallel_tool_use", true}}
                              : ojson{{"type", "any"}, {"disable_parallel_tool_use", true}};
    ojson body = messages_body(seed, tc);
    // Sampling seeds are not part of the Anthropic API: the comparison relies on greedy
    // decoding.
    body["temperature"] = 0.0;
    auto whole = server_->post("/v1/messages", body.dump());
    ASSERT_EQ(whole.status, 200) << whole.body;
    const json m = whole.json();
    EXPECT_EQ(m["stop_reason"], "tool_use") << whole.body;
    const json& content = m["content"];
    ASSERT_EQ(content.size(), 1u) << whole.body;
    EXPECT_EQ(content[0]["type"], "tool_use");
    EXPECT_EQ(content[0]["id"].get<std::string>().rfind("toolu_", 0), 0u);
    if (seed % 2) { EXPECT_EQ(content[0]["name"], "get_weather"); }
    expect_valid_call(content[0]["name"], content[0]["input"].dump());

    body["stream"] = true;
    SseRead s = post_stream_ordered(*server_, "/v1/messages", body);
    ASSERT_EQ(s.status, 200);
    std::string stop;
    std::map<int, int> fragments;
    json blocks = reassemble_blocks(s, &stop, &fragments);
    EXPECT_EQ(stop, "tool_use");
    ASSERT_EQ(blocks.size(), 1u) << s.events.size();
    EXPECT_GT(fragments[0], 1) << "input_json_delta streams the input as it is generated";
    EXPECT_EQ(blocks[0]["name"], content[0]["name"]);
    EXPECT_EQ(blocks[0]["input"], content[0]["input"]);
  }
}

TEST_F(ToolCallsTest, AnthropicThinkingBlocksStreamedAndNot) {
  ojson body = {{"model", kModel},
                {"max_tokens", 40},
                {"temperature", 0.0},
                {"thinking", {{"type", "enabled"}, {"budget_tokens", 1024}}},
                {"messages", {{{"role", "user"}, {"content", "Think."}}}}};
  auto whole = server_->post("/v1/messages", body.dump());
  ASSERT_EQ(whole.status, 200) << whole.body;
  const json m = whole.json();
  ASSERT_GE(m["content"].size(), 1u);
  EXPECT_EQ(m["content"][0]["type"], "thinking") << whole.body;
  EXPECT_FALSE(m["content"][0]["thinking"].get<std::string>().empty());
  body["stream"] = true;
  SseRead s = post_stream_ordered(*server_, "/v1/messages", body);
  ASSERT_EQ(s.status, 200);
  std::string stop;
  json blocks = reassemble_blocks(s, &stop);
  EXPECT_EQ(stop, m["stop_reason"]);
  ASSERT_EQ(blocks.size(), m["content"].size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_EQ(blocks[i]["type"], m["content"][i]["type"]);
    if (blocks[i]["type"] == "thinking") { EXPECT_EQ(blocks[i]["thinking"], m["content"][i]["thinking"]); }
    if (blocks[i]["type"] == "text") { EXPECT_EQ(blocks[i]["text"], m["content"][i]["text"]); }
  }
}

TEST_F(ToolCallsTest, AnthropicBadToolChoiceIs400) {
  auto r = server_->post("/v1/messages",
                         messages_body(0, {{"type", "tool"}, {"name", "missing"}}).dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json()["type"], "error");
  ojson bad = messages_body(0, {{"type", "auto"}});
  bad["thinking"] = {{"type", "sometimes"}};
  r = server_->post("/v1/messages", bad.dump());
  EXPECT_EQ(r.status, 400) << r.body;
}

}  // namespace
}  // namespace mlxm::e2e
