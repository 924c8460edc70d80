// Anthropic /v1/messages and /v1/messages/count_tokens over real HTTP against
// `mlx-manager serve`: the bundled demo model (readable greedy text) and the tiny q4 Llama 3.1
// model (its chat template renders tools, tool calls and tool results).
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "e2e/openai/openai_fixture.h"
#include "test_support/build_once.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

const HeaderList kHeaders = {{"Content-Type", "application/json"},
                             {"x-api-key", "test-key"},
                             {"anthropic-version", "2023-06-01"}};

struct Event {
  std::string name;
  json data;
};

// Splits an SSE body into events; every event must have exactly one `event:` and one `data:`.
std::vector<Event> parse_events(const std::string& body) {
  std::vector<Event> out;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find("\n\n", start);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event: " << body.substr(start);
      break;
    }
    const std::string block = body.substr(start, end - start);
    start = end + 2;
    const size_t nl = block.find('\n');
    if (block.rfind("event: ", 0) != 0 || nl == std::string::npos ||
        block.compare(nl + 1, 6, "data: ") != 0 || block.find('\n', nl + 1) != std::string::npos) {
      ADD_FAILURE() << "malformed event block: " << block;
      continue;
    }
    Event e{block.substr(7, nl - 7), json::parse(block.substr(nl + 7), nullptr, false)};
    EXPECT_FALSE(e.data.is_discarded()) << block;
    EXPECT_EQ(e.data["type"], e.name) << block;
    out.push_back(std::move(e));
  }
  return out;
}

std::string events_text(const std::vector<Event>& evs) {
  std::string text;
  for (const auto& e : evs) {
    if (e.name == "content_block_delta") text += e.data["delta"]["text"].get<std::string>();
  }
  return text;
}

json user(const std::string& text, json extra = json::object()) {
  json b = {{"messages", {{{"role", "user"}, {"content", text}}}}};
  b.update(extra);
  return b;
}

bool eventually(const std::function<bool()>& f, int timeout_ms = 5000) {
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

class AnthropicDemoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(model_server(demo_model_dir())); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }
  static HttpResult post(const std::string& path, const json& body) {
    return server_->post(path, body.dump(), kHeaders);
  }
  static ServerProcess* server_;
};
ServerProcess* AnthropicDemoTest::server_ = nullptr;

const char* kPrompt = "Write a sentence about music.";

TEST_F(AnthropicDemoTest, NonStreamingMessageShape) {
  auto r = post("/v1/messages", user(kPrompt, {{"model", "demo"},
                                               {"max_tokens", 24},
                                               {"temperature", 0},
                                               {"metadata", {{"user_id", "u-1"}}}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_FALSE(r.header("x-request-id").empty());
  json j = r.json();
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"content", "id", "model", "role", "stop_reason",
                                            "stop_sequence", "type", "usage"}));
  EXPECT_EQ(j["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(j["type"], "message");
  EXPECT_EQ(j["role"], "assistant");
  EXPECT_EQ(j["model"], "demo");
  ASSERT_EQ(j["content"].size(), 1u);
  EXPECT_EQ(j["content"][0]["type"], "text");
  EXPECT_FALSE(j["content"][0]["text"].get<std::string>().empty());
  const std::string stop = j["stop_reason"];
  EXPECT_TRUE(stop == "end_turn" || stop == "max_tokens") << stop;
  EXPECT_TRUE(j["stop_sequence"].is_null());
  EXPECT_GT(j["usage"]["input_tokens"].get<int>(), 5);
  EXPECT_GE(j["usage"]["output_tokens"].get<int>(), 1);
  EXPECT_LE(j["usage"]["output_tokens"].get<int>(), 24);
  if (stop == "max_tokens") {
    EXPECT_EQ(j["usage"]["output_tokens"], 24);
  }
}

TEST_F(AnthropicDemoTest, StreamEventsInOrderWithExactShapes) {
  json body = user(kPrompt, {{"model", "demo"}, {"max_tokens", 12}, {"temperature", 0}});
  auto plain = post("/v1/messages", body).json();
  body["stream"] = true;
  auto r = post("/v1/messages", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type").rfind("text/event-stream", 0), 0u);
  auto evs = parse_events(r.body);
  ASSERT_GE(evs.size(), 7u) << r.body;
  // message_start, content_block_start, ping, content_block_delta+, content_block_stop,
  // message_delta, message_stop — exactly.
  EXPECT_EQ(evs[0].name, "message_start");
  EXPECT_EQ(evs[1].name, "content_block_start");
  EXPECT_EQ(evs[2].name, "ping");
  const size_t n = evs.size();
  for (size_t i = 3; i + 3 < n; ++i) {
    EXPECT_EQ(evs[i].name, "content_block_delta") << i;
    EXPECT_EQ(evs[i].data["index"], 0);
    EXPECT_EQ(evs[i].data["delta"]["type"], "text_delta");
    EXPECT_EQ(evs[i].data.size(), 3u) << evs[i].data.dump();
  }
  EXPECT_EQ(evs[n - 3].name, "content_block_stop");
  EXPECT_EQ(evs[n - 2].name, "message_delta");
  EXPECT_EQ(evs[n - 1].name, "message_stop");

  const json& m = evs[0].data["message"];
  EXPECT_EQ(m["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["model"], "demo");
  EXPECT_EQ(m["content"], json::array());
  EXPECT_TRUE(m["stop_reason"].is_null());
  EXPECT_TRUE(m["stop_sequence"].is_null());
  EXPECT_EQ(m["usage"]["input_tokens"], plain["usage"]["input_tokens"]);
  EXPECT_EQ(
      evs[1].data.dump(),
      R"({"content_block":{"text":"","type":"text"},"index":0,"type":"content_block_start"})");
  EXPECT_EQ(evs[2].data.dump(), R"({"type":"ping"})");
  EXPECT_EQ(evs[n - 3].data.dump(), R"({"index":0,"type":"content_block_stop"})");
  const json& md = evs[n - 2].data;
  EXPECT_EQ(md["delta"]["stop_reason"], plain["stop_reason"]);
  EXPECT_TRUE(md["delta"]["stop_sequence"].is_null());
  EXPECT_EQ(md["usage"]["output_tokens"], plain["usage"]["output_tokens"]);
  EXPECT_EQ(evs[n - 1].data.dump(), R"({"type":"message_stop"})");
  // Greedy: the stream concatenates to the non-streamed text.
  EXPECT_EQ(events_text(evs), plain["content"][0]["text"]);
}

TEST_F(AnthropicDemoTest, StopSequenceAcrossTokensStreamedAndNot) {
  json body = user(kPrompt, {{"max_tokens", 24}, {"temperature", 0}});
  const std::string full = post("/v1/messages", body).json()["content"][0]["text"];
  // A stop sequence spanning two words (so several tokens): from the 2nd to the 4th space.
  size_t s2 = full.find(' ', full.find(' ') + 1);
  ASSERT_NE(s2, std::string::npos) << full;
  size_t s4 = full.find(' ', full.find(' ', s2 + 1) + 1);
  ASSERT_NE(s4, std::string::npos) << full;
  const std::string stop = full.substr(s2, s4 - s2);
  const std::string expected = full.substr(0, full.find(stop));
  body["stop_sequences"] = {"never-appears-xyz", stop};
  auto j = post("/v1/messages", body).json();
  EXPECT_EQ(j["content"][0]["text"], expected) << "stop=" << stop;
  EXPECT_EQ(j["stop_reason"], "stop_sequence");
  EXPECT_EQ(j["stop_sequence"], stop);
  body["stream"] = true;
  auto evs = parse_events(post("/v1/messages", body).body);
  ASSERT_GE(evs.size(), 6u);
  EXPECT_EQ(events_text(evs), expected);
  const json& md = evs[evs.size() - 2].data;
  EXPECT_EQ(md["delta"]["stop_reason"], "stop_sequence");
  EXPECT_EQ(md["delta"]["stop_sequence"], stop);
  EXPECT_EQ(evs.back().name, "message_stop");
}

TEST_F(AnthropicDemoTest, AssistantPrefillIsContinued) {
  json body = user(kPrompt, {{"max_tokens", 10}, {"temperature", 0}});
  const std::string full = post("/v1/messages", body).json()["content"][0]["text"];
  const std::string prefix = full.substr(0, full.find(' ', full.find(' ') + 1));  // two words
  body["messages"].push_back({{"role", "assistant"}, {"content", prefix}});
  auto j = post("/v1/messages", body).json();
  const std::string reply = j["content"][0]["text"];
  EXPECT_FALSE(reply.empty());
  // Greedy: the prefill plus its continuation retraces the unprefilled reply (and, having been
  // given two words, runs past its end).
  EXPECT_EQ((prefix + reply).rfind(full, 0), 0u)
      << "full=" << full << " prefix=" << prefix << " reply=" << reply;
}

TEST_F(AnthropicDemoTest, ErrorsAreAnthropicShaped) {
  auto no_max = post("/v1/messages", user("x"));
  EXPECT_EQ(no_max.status, 400);
  EXPECT_EQ(
      no_max.body,
      R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}})");
  auto bad_json = server_->post("/v1/messages", "{nope", kHeaders);
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.json()["type"], "error");
  EXPECT_EQ(bad_json.json()["error"]["type"], "invalid_request_error");
  auto image = post("/v1/messages",
                    json::parse(R"({"max_tokens": 5, "messages": [{"role": "user", "content": [
      {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
      {"type": "text", "text": "What is this?"}]}]})"));
  EXPECT_EQ(image.status, 400);
  const std::string msg = image.json()["error"]["message"];
  EXPECT_NE(msg.find("messages[0].content[0]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("image content blocks are not supported"), std::string::npos) << msg;
  auto no_model = post("/v1/messages", user("x", {{"model", "nope"}, {"max_tokens", 5}}));
  EXPECT_EQ(no_model.status, 404);
  EXPECT_EQ(no_model.json()["error"]["type"], "not_found_error");
  EXPECT_NE(no_model.json()["error"]["message"].get<std::string>().find("nope"), std::string::npos);
  auto hot = post("/v1/messages", user("x", {{"max_tokens", 5}, {"temperature", 1.5}}));
  EXPECT_EQ(hot.status, 400);
  EXPECT_NE(hot.json()["error"]["message"].get<std::string>().find("temperature"),
            std::string::npos);
  auto sys_role =
      post("/v1/messages",
           json::parse(R"({"max_tokens": 5, "messages": [{"role": "system", "content": "x"}]})"));
  EXPECT_EQ(sys_role.status, 400);
  EXPECT_NE(sys_role.json()["error"]["message"].get<std::string>().find("top-level 'system'"),
            std::string::npos);
  auto count_bad = post("/v1/messages/count_tokens", json::parse(R"({"messages": []})"));
  EXPECT_EQ(count_bad.status, 400);
  EXPECT_EQ(count_bad.json()["type"], "error");
}

TEST_F(AnthropicDemoTest, CountTokensMatchesUsageAndSeesSystem) {
  json body = user(kPrompt, {{"max_tokens", 2}});
  auto usage = post("/v1/messages", body).json()["usage"];
  body.erase("max_tokens");
  auto count = post("/v1/messages/count_tokens", body);
  ASSERT_EQ(count.status, 200) << count.body;
  EXPECT_EQ(count.json().dump(), json({{"input_tokens", usage["input_tokens"]}}).dump());
  // The same system text as a string and as two blocks (joined by a newline) counts the same,
  // and more than no system prompt.
  body["system"] = "You are terse.\nAnswer in one line.";
  const int with_string = post("/v1/messages/count_tokens", body).json()["input_tokens"];
  body["system"] = {{{"type", "text"}, {"text", "You are terse."}},
                    {{"type", "text"}, {"text", "Answer in one line."}}};
  const int with_blocks = post("/v1/messages/count_tokens", body).json()["input_tokens"];
  EXPECT_EQ(with_string, with_blocks);
  EXPECT_GT(with_string, usage["input_tokens"].get<int>() + 5);
}

// The tiny model with a Llama 3.1-style tool template (tests/tokenizer fixture) as its
// chat_template.jinja, so tools, tool calls and tool results show in the prompt.
const std::string& tools_model_dir() {
  static std::string dir = [] {
    namespace fs = std::filesystem;
    const fs::path out = fs::path(MLXM_BINARY_DIR) / "test-models" / "tiny-q4-tools";
    const std::string err = test_support::build_dir_once(out.string(), [](const std::string& st) {
      const fs::path staging(st);
      fs::create_directories(staging);
      for (const char* f :
           {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
        fs::copy_file(fs::path(tiny_model_dir()) / f, staging / f);
      }
      fs::copy_file(fs::path(MLXM_SOURCE_DIR) /
                        "tests/tokenizer/chat_template/fixtures/templates/tools_style.jinja",
                    staging / "chat_template.jinja");
      return std::string();
    });
    if (!err.empty()) ADD_FAILURE() << err;
    return out.string();
  }();
  return dir;
}

class AnthropicTinyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ =
        new ServerProcess(model_server(tools_model_dir(), {{"MLX_SERVER_MAX_MODEL_LEN", "512"}}));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }
  static json kv_blocks() { return server_->get("/admin/models").json()["data"][0]["kv_blocks"]; }
  static ServerProcess* server_;
};
ServerProcess* AnthropicTinyTest::server_ = nullptr;

// tool_use / tool_result render exactly as the equivalent OpenAI tool_calls / role "tool"
// messages (compared through /tokenize, which renders OpenAI messages with the same template).
TEST_F(AnthropicTinyTest, ToolUseAndResultRenderAsOpenAiToolMessages) {
  json anthropic = json::parse(R"({"messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 degrees"}]}]})");
  json openai = json::parse(R"({"messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_1", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
      {"role": "tool", "tool_call_id": "toolu_1", "content": "18 degrees"}]})");
  auto count = server_->post("/v1/messages/count_tokens", anthropic.dump(), kHeaders);
  ASSERT_EQ(count.status, 200) << count.body;
  auto tok = server_->post("/tokenize", openai.dump());
  ASSERT_EQ(tok.status, 200) << tok.body;
  EXPECT_EQ(count.json()["input_tokens"], tok.json()["count"]);
  // Tools reach the template (Llama 3.1 lists them in the prompt), tool_choice is accepted.
  anthropic["tools"] = json::parse(R"([{"name": "get_weather", "description": "Current weather",
      "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])");
  anthropic["tool_choice"] = {{"type", "auto"}};
  auto with_tools = server_->post("/v1/messages/count_tokens", anthropic.dump(), kHeaders);
  ASSERT_EQ(with_tools.status, 200) << with_tools.body;
  EXPECT_GT(with_tools.json()["input_tokens"].get<int>(),
            count.json()["input_tokens"].get<int>() + 20);
  anthropic["max_tokens"] = 4;
  auto reply = server_->post("/v1/messages", anthropic.dump(), kHeaders);
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.json()["usage"]["input_tokens"], with_tools.json()["input_tokens"]);
}

TEST_F(AnthropicTinyTest, MaxTokensBeyondContextIsClampedAndPromptTooLongIs400) {
  // A prompt that leaves a few dozen tokens of the 512-token context.
  std::string prompt;
  for (int i = 0; i < 470; ++i) prompt += "word ";
  auto r = server_->post(
      "/v1/messages", user(prompt, {{"max_tokens", 32000}, {"temperature", 0}}).dump(), kHeaders);
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  const int total = j["usage"]["input_tokens"].get<int>() + j["usage"]["output_tokens"].get<int>();
  EXPECT_LE(total, 512);
  if (j["stop_reason"] == "max_tokens") {
    EXPECT_EQ(total, 512);
  }
  std::string long_prompt;
  for (int i = 0; i < 700; ++i) long_prompt += "word ";
  auto too_long =
      server_->post("/v1/messages", user(long_prompt, {{"max_tokens", 5}}).dump(), kHeaders);
  EXPECT_EQ(too_long.status, 400);
  EXPECT_NE(too_long.json()["error"]["message"].get<std::string>().find("prompt is too long"),
            std::string::npos);
}

TEST_F(AnthropicTinyTest, ClientDisconnectFreesKvBlocks) {
  auto conn = server_->connect();
  ASSERT_TRUE(conn);
  json body = user("long stream", {{"max_tokens", 400}, {"stream", true}});
  conn->send_request("POST", "/v1/messages", body.dump(), kHeaders);
  ASSERT_EQ(conn->read_head().status, 200);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(conn->next_sse_data()) << i;  // start, block, ping, 2 deltas
  EXPECT_GT(kv_blocks()["used"].get<int>(), 0);
  conn->close();
  EXPECT_TRUE(eventually([] { return kv_blocks()["used"] == 0; }, 10000)) << kv_blocks().dump();
  EXPECT_EQ(server_->get("/admin/models").json()["data"][0]["requests_in_flight"], 0);
}

TEST(AnthropicTimeoutTest, NonStreamingGets408AndStreamEndsWithErrorEvent) {
  ServerProcess server(model_server(tiny_model_dir(), {{"MLX_SERVER_TIMEOUT_CHAT_SECONDS", "1"},
                                                       {"MLXM_DEBUG_STEP_DELAY_MS", "20"}}));
  ASSERT_TRUE(server.ok()) << server.error();
  json body = user("slow", {{"max_tokens", 300}});
  auto r = server.post("/v1/messages", body.dump(), kHeaders);
  EXPECT_EQ(r.status, 408) << r.body;
  EXPECT_EQ(r.json()["type"], "error");
  EXPECT_EQ(r.json()["error"]["type"], "timeout_error");
  body["stream"] = true;
  auto s = server.post("/v1/messages", body.dump(), kHeaders);
  ASSERT_EQ(s.status, 200);
  auto evs = parse_events(s.body);
  ASSERT_GE(evs.size(), 4u) << s.body;
  EXPECT_EQ(evs[0].name, "message_start");
  EXPECT_EQ(evs.back().name, "error");
  EXPECT_EQ(evs.back().data["error"]["type"], "timeout_error");
  for (const auto& e : evs) EXPECT_NE(e.name, "message_stop");
}

}  // namespace
}  // namespace mlxm::e2e
