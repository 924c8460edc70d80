// Cloud routing with the real local pool and the real server: X-MLX-Backend on local answers,
// a non-streamed local timeout moving on to the next backend (a streamed one cannot), token
// counting through a rule, and a streamed cloud request waiting for its provider without
// holding the only io thread.
#include <gtest/gtest.h>

#include <filesystem>

#include "cloud/fake_provider.h"
#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;
using testing::FakeProvider;
using testing::Fault;

const char* kKey = "sk-fake-secret-key-0123456789";
const HeaderList kJson = {{"Content-Type", "application/json"}};
const HeaderList kAnthropic = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}};

json chat(const std::string& model, bool stream, int max_tokens) {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi there"}}}},
          {"max_tokens", max_tokens}, {"stream", stream}};
}

json messages(const std::string& model, bool stream, int max_tokens) {
  return {{"model", model}, {"max_tokens", max_tokens},
          {"messages", {{{"role", "user"}, {"content", "hi there"}}}}, {"stream", stream}};
}

// The head and the data of every event of a streamed answer.
struct Streamed {
  HttpResult head;
  std::vector<json> data;
};

Streamed stream(const ServerProcess& s, const std::string& path, const json& body, const HeaderList& h) {
  Streamed out;
  auto conn = s.connect();
  if (!conn) return out;
  conn->set_timeout_ms(30000);
  conn->send_request("POST", path, body.dump(), h);
  out.head = conn->read_head();
  while (auto d = conn->next_sse_data()) out.data.push_back(*d == "[DONE]" ? json("[DONE]") : json::parse(*d, nullptr, false));
  return out;
}

// A server with providers "fake" (OpenAI-compatible) and "fakeant" (Anthropic) at `fake`, and
// `args`/`env` added.
class CloudServer {
 public:
  CloudServer(const FakeProvider& fake, ServerOptions o) {
    char tmpl[] = "/tmp/mlxm-cloud-local-XXXXXX";
    home_ = mkdtemp(tmpl);
    o.env["MLX_MANAGER_HOME"] = home_;
    o.env["MLX_SERVER_CLOUD_RETRY_ATTEMPTS"] = "1";
    o.env["OPENAI_API_KEY"] = "";
    o.env["ANTHROPIC_API_KEY"] = "";
    server_ = std::make_unique<ServerProcess>(o);
    if (!server_->ok()) return;
    for (json p : {json{{"name", "fake"}, {"kind", "openai_compatible"}}, json{{"name", "fakeant"}, {"kind", "anthropic"}}}) {
      p["base_url"] = fake.base_url();
      p["api_key"] = kKey;
      auto r = server_->post("/api/settings/providers", p.dump(), kJson);
      EXPECT_EQ(r.status, 201) << r.body;
    }
  }
  ~CloudServer() {
    server_.reset();
    std::filesystem::remove_all(home_);
  }
  void add_rule(const json& rule) {
    auto r = server_->post("/api/settings/rules", rule.dump(), kJson);
    EXPECT_EQ(r.status, 201) << r.body;
  }
  const ServerProcess& operator*() const { return *server_; }
  const ServerProcess* operator->() const { return server_.get(); }

 private:
  std::string home_;
  std::unique_ptr<ServerProcess> server_;
};

std::string served_model_name(const ServerProcess& s) {
  auto r = s.get("/v1/models");
  return r.json()["data"][0].value("id", "");
}

TEST(CloudLocal, LocalAnswersCarryTheLocalBackendHeader) {
  FakeProvider fake;
  CloudServer server(fake, model_server(tiny_model_dir()));
  ASSERT_TRUE(server->ok()) << server->error();
  const std::string model = served_model_name(*server);
  ASSERT_FALSE(model.empty());
  // Unmatched (the local pool) and matched by a rule whose backend is local.
  server.add_rule({{"pattern", "routed-local"}, {"backend", "local"}, {"backend_model", model}});
  for (const std::string& name : {model, std::string("routed-local")}) {
    auto c = server->post("/v1/chat/completions", chat(name, false, 4).dump(), kJson);
    EXPECT_EQ(c.status, 200) << c.body;
    EXPECT_EQ(c.header("X-MLX-Backend"), "local") << name;
    EXPECT_EQ(c.json()["object"], "chat.completion");
    auto m = server->post("/v1/messages", messages(name, false, 4).dump(), kAnthropic);
    EXPECT_EQ(m.status, 200) << m.body;
    EXPECT_EQ(m.header("X-MLX-Backend"), "local") << name;
    EXPECT_EQ(m.json()["type"], "message");

    Streamed cs = stream(*server, "/v1/chat/completions", chat(name, true, 4), kJson);
    EXPECT_EQ(cs.head.status, 200);
    EXPECT_EQ(cs.head.header("X-MLX-Backend"), "local") << name;
    ASSERT_FALSE(cs.data.empty());
    EXPECT_EQ(cs.data.back(), "[DONE]");
    Streamed ms = stream(*server, "/v1/messages", messages(name, true, 4), kAnthropic);
    EXPECT_EQ(ms.head.status, 200);
    EXPECT_EQ(ms.head.header("X-MLX-Backend"), "local") << name;
    ASSERT_FALSE(ms.data.empty());
    EXPECT_EQ(ms.data.back().value("type", ""), "message_stop");
  }
  EXPECT_EQ(fake.n_requests(), 0);
}

TEST(CloudLocal, NonStreamedLocalTimeoutMovesOnStreamedCannot) {
  FakeProvider fake;
  fake.set_required_key(kKey);
  fake.set_reply("answered by the fallback");
  // 300 tokens at >= 20 ms a step take >= 6 s: the 1 s timeout fires first.
  CloudServer server(fake, model_server(tiny_model_dir(), {{"MLX_SERVER_TIMEOUT_CHAT_SECONDS", "1"},
                                                           {"MLXM_DEBUG_STEP_DELAY_MS", "20"}}));
  ASSERT_TRUE(server->ok()) << server->error();
  const std::string model = served_model_name(*server);
  server.add_rule({{"pattern", model}, {"backend", "local"}, {"fallback", {"fake:up-model"}}});

  auto c = server->post("/v1/chat/completions", chat(model, false, 300).dump(), kJson);
  EXPECT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.header("X-MLX-Backend"), "fake");
  EXPECT_EQ(c.json()["choices"][0]["message"]["content"], "answered by the fallback");
  auto m = server->post("/v1/messages", messages(model, false, 300).dump(), kAnthropic);
  EXPECT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(m.header("X-MLX-Backend"), "fake");
  EXPECT_EQ(m.json()["content"][0]["text"], "answered by the fallback");
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& r : reqs) EXPECT_EQ(json::parse(r.body)["model"], "up-model");

  // Streamed: the status line and the first events are out, so the backend never changes; the
  // stream ends with the timeout error.
  Streamed s = stream(*server, "/v1/messages", messages(model, true, 300), kAnthropic);
  EXPECT_EQ(s.head.status, 200);
  EXPECT_EQ(s.head.header("X-MLX-Backend"), "local");
  ASSERT_FALSE(s.data.empty());
  EXPECT_EQ(s.data.back().value("type", ""), "error");
  EXPECT_EQ(s.data.back()["error"]["type"], "timeout_error");
  EXPECT_EQ(fake.n_requests(), 2);

  // Without a fallback the timeout goes back to the client.
  server.add_rule({{"pattern", "alone"}, {"backend", "local"}, {"backend_model", model}});
  auto alone = server->post("/v1/messages", messages("alone", false, 300).dump(), kAnthropic);
  EXPECT_EQ(alone.status, 408) << alone.body;
  EXPECT_EQ(alone.header("X-MLX-Backend"), "local");
  EXPECT_EQ(alone.json()["error"]["type"], "timeout_error");
}

TEST(CloudLocal, CountTokensThroughRules) {
  FakeProvider fake;
  fake.set_required_key(kKey);
  ServerOptions o;
  o.test_routes = false;
  CloudServer server(fake, o);
  ASSERT_TRUE(server->ok()) << server->error();
  server.add_rule({{"pattern", "claude-x"}, {"backend", "fakeant"}, {"backend_model", "claude-real"}});
  server.add_rule({{"pattern", "gpt-x"}, {"backend", "fake"}});
  server.add_rule({{"pattern", "both-x"}, {"backend", "fake"}, {"fallback", {"fakeant:claude-real"}}});
  const json body = {{"model", "claude-x"},
                     {"system", "be brief"},
                     {"messages", {{{"role", "user"}, {"content", "one two three four"}}}}};

  // Anthropic provider: its own count_tokens, model rewritten, key and version sent.
  auto r = server->post("/v1/messages/count_tokens", body.dump(), kAnthropic);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-MLX-Backend"), "fakeant");
  EXPECT_EQ(r.json()["input_tokens"], 6);  // the fake counts words: 2 + 4
  auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/messages/count_tokens");
  EXPECT_EQ(reqs[0].headers["x-api-key"], kKey);
  EXPECT_EQ(reqs[0].headers["anthropic-version"], "2023-06-01");
  const json up = json::parse(reqs[0].body);
  EXPECT_EQ(up["model"], "claude-real");
  EXPECT_EQ(up["messages"], body["messages"]);

  // OpenAI-compatible provider: it cannot count; the error says so.
  json gpt = body;
  gpt["model"] = "gpt-x";
  auto g = server->post("/v1/messages/count_tokens", gpt.dump(), kAnthropic);
  EXPECT_EQ(g.status, 400) << g.body;
  EXPECT_EQ(g.json()["type"], "error");
  EXPECT_EQ(g.json()["error"]["type"], "invalid_request_error");
  const std::string msg = g.json()["error"].value("message", "");
  EXPECT_NE(msg.find("cannot count tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fake"), std::string::npos) << msg;
  EXPECT_EQ(fake.n_requests(), 1);

  // A chain: the OpenAI-compatible step is skipped, the Anthropic fallback counts.
  json both = body;
  both["model"] = "both-x";
  auto b = server->post("/v1/messages/count_tokens", both.dump(), kAnthropic);
  EXPECT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(b.header("X-MLX-Backend"), "fakeant");
  EXPECT_EQ(b.json()["input_tokens"], 6);

  // A provider failure moves on; with nothing left: 502 naming why.
  fake.push_fault(Fault::kStatus, 500);
  auto f = server->post("/v1/messages/count_tokens", body.dump(), kAnthropic);
  EXPECT_EQ(f.status, 502) << f.body;
  EXPECT_EQ(f.json()["error"]["type"], "api_error");
  EXPECT_NE(f.body.find("fakeant"), std::string::npos) << f.body;
  // A provider's refusal (4xx) goes back to the client.
  fake.push_fault(Fault::kStatus, 400);
  auto refused = server->post("/v1/messages/count_tokens", body.dump(), kAnthropic);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.json()["type"], "error");
}

TEST(CloudLocal, StreamWaitingForItsProviderDoesNotHoldTheIoThread) {
  FakeProvider fake;
  fake.set_required_key(kKey);
  fake.set_reply("late but complete");
  ServerOptions o;
  o.test_routes = false;
  o.args = {"--io-threads", "1"};
  CloudServer server(fake, o);
  ASSERT_TRUE(server->ok()) << server->error();
  server.add_rule({{"pattern", "cloud-a"}, {"backend", "fake"}});
  fake.push_fault(Fault::kHold);  // the provider sends nothing until released

  auto conn = server->connect();
  ASSERT_TRUE(conn);
  conn->set_timeout_ms(30000);
  ASSERT_TRUE(conn->send_request("POST", "/v1/chat/completions", chat("cloud-a", true, 16).dump(), kJson));
  ASSERT_TRUE(eventually([&] { return fake.n_held() == 1; }, 10000));
  // The only io thread still answers while the stream waits for the provider's head.
  auto health = server->get("/health");
  EXPECT_EQ(health.status, 200);
  auto models = server->get("/v1/models");
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(fake.n_held(), 1);  // the stream is still waiting

  fake.release_held();
  HttpResult head = conn->read_head();
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("X-MLX-Backend"), "fake");
  std::string text;
  bool done = false;
  while (auto d = conn->next_sse_data()) {
    if (*d == "[DONE]") {
      done = true;
      continue;
    }
    json e = json::parse(*d, nullptr, false);
    if (e.contains("choices") && !e["choices"].empty() && e["choices"][0]["delta"].contains("content")) {
      text += e["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "late but complete");
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace mlxm::e2e
