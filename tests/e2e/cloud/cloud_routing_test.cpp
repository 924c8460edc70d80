// Cloud routing end to end: the real `mlx-manager serve` routes models by rule to a fake
// provider (a real HTTP server on loopback, tests/cloud/fake_provider.h) through the production
// libcurl client: passthrough and translated protocols, streamed and not, fallback, retries,
// the circuit breaker, key redaction, and the settings API.
#include <gtest/gtest.h>

#include <fstream>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "cloud/fake_provider.h"
#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;
using testing::FakeProvider;
using testing::Fault;

const char* kKey = "sk-fake-secret-key-0123456789";
const HeaderList kJson = {{"Content-Type", "application/json"}};
const HeaderList kAnthropic = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}};

json chat(const std::string& model, bool stream) {
  json b = {{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", stream}};
  if (stream) b["stream_options"] = {{"include_usage", true}};
  return b;
}

json messages(const std::string& model, bool stream) {
  return {{"model", model}, {"max_tokens", 64}, {"messages", {{{"role", "user"}, {"content", "hi"}}}},
          {"stream", stream}};
}

struct Stream {
  HttpResult head;
  std::vector<json> events;  // parsed data ([DONE] as the string "[DONE]")
};

Stream post_stream(const ServerProcess& s, const std::string& path, const json& body, const HeaderList& h) {
  Stream out;
  auto conn = s.connect();
  if (!conn) return out;
  conn->send_request("POST", path, body.dump(), h);
  out.head = conn->read_head();
  while (auto d = conn->next_sse_data()) {
    out.events.push_back(*d == "[DONE]" ? json("[DONE]") : json::parse(*d, nullptr, false));
  }
  return out;
}

std::string openai_text(const Stream& s) {
  std::string t;
  for (const auto& e : s.events) {
    if (e.is_object() && e.contains("choices") && !e["choices"].empty() &&
        e["choices"][0]["delta"].contains("content") && e["choices"][0]["delta"]["content"].is_string()) {
      t += e["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  return t;
}

std::vector<std::string> anthropic_types(const Stream& s) {
  std::vector<std::string> t;
  for (const auto& e : s.events) t.push_back(e.value("type", "?"));
  return t;
}

std::string anthropic_text(const Stream& s) {
  std::string t;
  for (const auto& e : s.events) {
    if (e.value("type", "") == "content_block_delta") t += e["delta"]["text"].get<std::string>();
  }
  return t;
}

// The raw bytes of the database and its write-ahead log (recent writes sit in the log).
std::string database_bytes(const std::string& home) {
  std::string out;
  for (const char* name : {"mlx-manager.db", "mlx-manager.db-wal"}) {
    std::ifstream in(std::filesystem::path(home) / name, std::ios::binary);
    out.append((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  return out;
}

class CloudRouting : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mlxm-cloud-e2e-XXXXXX";
    home_ = mkdtemp(tmpl);
    ServerOptions o;
    o.test_routes = false;
    o.env = {{"MLX_MANAGER_HOME", home_},
             {"MLX_SERVER_CLOUD_RETRY_ATTEMPTS", "2"},
             {"MLX_SERVER_CLOUD_RETRY_BASE_MS", "10"},
             {"MLX_SERVER_CLOUD_RETRY_MAX_MS", "40"},
             {"MLX_SERVER_CLOUD_BREAKER_FAILURES", "4"},
             {"MLX_SERVER_CLOUD_BREAKER_COOLDOWN_SECONDS", "600"},
             {"OPENAI_API_KEY", ""},
             {"ANTHROPIC_API_KEY", ""}};
    server_ = std::make_unique<ServerProcess>(o);
    ASSERT_TRUE(server_->ok()) << server_->error();
    add_provider({{"name", "fake"}, {"kind", "openai_compatible"}, {"base_url", fake_.base_url()}, {"api_key", kKey}});
    add_provider({{"name", "fakeant"}, {"kind", "anthropic"}, {"base_url", fake_.base_url()}, {"api_key", kKey}});
    fake_.set_required_key(kKey);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(home_);
  }
  void add_provider(const json& p) {
    auto r = server_->post("/api/settings/providers", p.dump(), kJson);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  std::string add_rule(const json& rule) {
    auto r = server_->post("/api/settings/rules", rule.dump(), kJson);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json().value("id", "");
  }
  const ServerProcess& server() const { return *server_; }

  FakeProvider fake_;
  std::string home_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(CloudRouting, OpenAiPassthroughNotStreamed) {
  add_rule({{"pattern", "cloud-"}, {"match", "prefix"}, {"backend", "fake"}, {"backend_model", "up-model"}});
  auto r = server().post("/v1/chat/completions", chat("cloud-a", false).dump(), kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-MLX-Backend"), "fake");
  EXPECT_EQ(r.json()["choices"][0]["message"]["content"], "Hello from the fake provider");
  auto reqs = fake_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  EXPECT_EQ(json::parse(reqs[0].body)["model"], "up-model");
  EXPECT_EQ(reqs[0].headers["authorization"], std::string("Bearer ") + kKey);
}

TEST_F(CloudRouting, OpenAiPassthroughStreamed) {
  add_rule({{"pattern", "cloud-a"}, {"backend", "fake"}});
  fake_.set_reply("one two three");
  Stream s = post_stream(server(), "/v1/chat/completions", chat("cloud-a", true), kJson);
  ASSERT_EQ(s.head.status, 200);
  EXPECT_EQ(s.head.header("X-MLX-Backend"), "fake");
  EXPECT_EQ(s.head.header("content-type").rfind("text/event-stream", 0), 0u);
  EXPECT_EQ(openai_text(s), "one two three");
  ASSERT_GE(s.events.size(), 3u);
  EXPECT_EQ(s.events.back(), "[DONE]");
  EXPECT_EQ(s.events[s.events.size() - 2]["usage"]["completion_tokens"], 3);  // include_usage chunk
}

TEST_F(CloudRouting, AnthropicClientToOpenAiProviderStreamedIsTranslated) {
  add_rule({{"pattern", "cloud-a"}, {"backend", "fake"}});
  fake_.set_reply("alpha beta");
  Stream s = post_stream(server(), "/v1/messages", messages("cloud-a", true), kAnthropic);
  ASSERT_EQ(s.head.status, 200);
  EXPECT_EQ(s.head.header("X-MLX-Backend"), "fake");
  const auto types = anthropic_types(s);
  ASSERT_GE(types.size(), 6u);
  EXPECT_EQ(types.front(), "message_start");
  const auto first = [&](const char* t) { return std::find(types.begin(), types.end(), t) - types.begin(); };
  EXPECT_LT(first("content_block_start"), first("content_block_delta"));
  EXPECT_EQ(types[types.size() - 3], "content_block_stop");
  EXPECT_EQ(types[types.size() - 2], "message_delta");
  EXPECT_EQ(types.back(), "message_stop");
  EXPECT_EQ(anthropic_text(s), "alpha beta");
  EXPECT_EQ(s.events[types.size() - 2]["delta"]["stop_reason"], "end_turn");
  // The provider was asked in its own protocol.
  auto up = json::parse(fake_.requests().at(0).body);
  EXPECT_EQ(up["messages"][0]["content"], "hi");
  EXPECT_EQ(up["stream"], true);
}

TEST_F(CloudRouting, OpenAiClientToAnthropicProviderBothWays) {
  add_rule({{"pattern", "claude-x"}, {"backend", "fakeant"}, {"backend_model", "claude-real"}});
  auto r = server().post("/v1/chat/completions", chat("claude-x", false).dump(), kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-MLX-Backend"), "fakeant");
  EXPECT_EQ(r.json()["object"], "chat.completion");
  EXPECT_EQ(r.json()["choices"][0]["message"]["content"], "Hello from the fake provider");
  EXPECT_EQ(r.json()["choices"][0]["finish_reason"], "stop");
  auto req = fake_.requests().at(0);
  EXPECT_EQ(req.path, "/v1/messages");
  EXPECT_EQ(req.headers["x-api-key"], kKey);
  EXPECT_EQ(req.headers["anthropic-version"], "2023-06-01");
  EXPECT_EQ(json::parse(req.body)["model"], "claude-real");

  Stream s = post_stream(server(), "/v1/chat/completions", chat("claude-x", true), kJson);
  ASSERT_EQ(s.head.status, 200);
  EXPECT_EQ(openai_text(s), "Hello from the fake provider");
  EXPECT_EQ(s.events.back(), "[DONE]");
  bool saw_stop = false;
  for (const auto& e : s.events) {
    if (e.is_object() && e.contains("choices") && !e["choices"].empty() &&
        e["choices"][0]["finish_reason"] == "stop") {
      saw_stop = true;
    }
  }
  EXPECT_TRUE(saw_stop);
}

TEST_F(CloudRouting, AnthropicPassthrough) {
  add_rule({{"pattern", "claude-x"}, {"backend", "fakeant"}});
  auto r = server().post("/v1/messages", messages("claude-x", false).dump(), kAnthropic);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["type"], "message");
  EXPECT_EQ(r.json()["content"][0]["text"], "Hello from the fake provider");
  Stream s = post_stream(server(), "/v1/messages", messages("claude-x", true), kAnthropic);
  EXPECT_EQ(anthropic_types(s).back(), "message_stop");
  EXPECT_EQ(anthropic_text(s), "Hello from the fake provider");
}

TEST_F(CloudRouting, MissingLocalModelFallsBackToCloud) {
  add_rule({{"pattern", "not-here"}, {"backend", "local"}, {"fallback", {"fake:up-model"}}});
  auto r = server().post("/v1/chat/completions", chat("not-here", false).dump(), kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-MLX-Backend"), "fake");
  EXPECT_EQ(json::parse(fake_.requests().at(0).body)["model"], "up-model");
  Stream s = post_stream(server(), "/v1/messages", messages("not-here", true), kAnthropic);
  EXPECT_EQ(s.head.header("X-MLX-Backend"), "fake");
  EXPECT_EQ(anthropic_types(s).back(), "message_stop");
  // Without a rule the local pool answers (404) and says so.
  auto miss = server().post("/v1/chat/completions", chat("also-not-here", false).dump(), kJson);
  EXPECT_EQ(miss.status, 404);
  EXPECT_EQ(miss.header("X-MLX-Backend"), "local");
}

TEST_F(CloudRouting, RetriesA429ThenSucceeds) {
  add_rule({{"pattern", "cloud-a"}, {"backend", "fake"}});
  fake_.push_fault(Fault::kStatus, 429);
  auto r = server().post("/v1/chat/completions", chat("cloud-a", false).dump(), kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(fake_.n_requests(), 2);
  fake_.push_fault(Fault::kDrop);
  Stream s = post_stream(server(), "/v1/chat/completions", chat("cloud-a", true), kJson);
  EXPECT_EQ(s.head.status, 200);
  EXPECT_EQ(s.events.back(), "[DONE]");
  EXPECT_EQ(fake_.n_requests(), 4);
}

TEST_F(CloudRouting, FailingProviderMovesOnThenTheBreakerOpens) {
  add_rule({{"pattern", "cloud-a"}, {"backend", "fake"}, {"fallback", {"fakeant"}}});
  fake_.push_fault(Fault::kStatus, 500);
  fake_.push_fault(Fault::kStatus, 503);
  // Two attempts on "fake" fail, "fakeant" serves.
  auto r = server().post("/v1/chat/completions", chat("cloud-a", false).dump(), kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-MLX-Backend"), "fakeant");
  // Two more failures: 4 in a row opens fake's breaker; the chain then skips it at once.
  fake_.push_fault(Fault::kStatus, 500);
  fake_.push_fault(Fault::kStatus, 500);
  r = server().post("/v1/chat/completions", chat("cloud-a", false).dump(), kJson);
  EXPECT_EQ(r.header("X-MLX-Backend"), "fakeant");
  auto providers = server().get("/api/settings/providers").json()["providers"];
  for (const auto& p : providers) {
    if (p["name"] == "fake") {
      EXPECT_EQ(p["circuit"], "open");
    }
  }
  const int n_before = fake_.n_requests();
  r = server().post("/v1/chat/completions", chat("cloud-a", false).dump(), kJson);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("X-MLX-Backend"), "fakeant");
  EXPECT_EQ(fake_.n_requests(), n_before + 1);  // only fakeant was asked
  // Every backend failing: a 502 naming each one.
  fake_.push_fault(Fault::kStatus, 500);
  fake_.push_fault(Fault::kStatus, 500);
  r = server().post("/v1/chat/completions", chat("cloud-a", false).dump(), kJson);
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("fake: circuit open"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("fakeant"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(kKey), std::string::npos);
}

TEST_F(CloudRouting, StreamCutAfterBytesEndsWithAnErrorAndNeverSwitches) {
  add_rule({{"pattern", "cloud-a"}, {"backend", "fake"}, {"fallback", {"fakeant"}}});
  fake_.push_fault(Fault::kCutStream);
  Stream s = post_stream(server(), "/v1/messages", messages("cloud-a", true), kAnthropic);
  ASSERT_EQ(s.head.status, 200);
  EXPECT_EQ(s.head.header("X-MLX-Backend"), "fake");
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(s.events.back()["type"], "error");
  EXPECT_EQ(fake_.n_requests(), 1);  // no retry, no switch once bytes went out
}

TEST_F(CloudRouting, UpstreamClientErrorIsReturnedWithTheKeyRedacted) {
  auto bad = server().request("PUT", "/api/settings/providers/fake",
                              json{{"api_key", "sk-wrong-key-0123456789abc"}}.dump(), kJson);
  ASSERT_EQ(bad.status, 200) << bad.body;
  add_rule({{"pattern", "cloud-a"}, {"backend", "fake"}});
  auto r = server().post("/v1/chat/completions", chat("cloud-a", false).dump(), kJson);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.body.find("sk-wrong-key-0123456789abc"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("[redacted]"), std::string::npos) << r.body;
  EXPECT_EQ(fake_.n_requests(), 1);  // a 401 is not retried
}

TEST_F(CloudRouting, ProvidersApiNeverReturnsKeys) {
  auto r = server().get("/api/settings/providers");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find(kKey), std::string::npos) << r.body;
  bool found = false;
  const json body = r.json();
  for (const auto& p : body["providers"]) {
    if (p["name"] != "fake") continue;
    found = true;
    EXPECT_EQ(p["has_key"], true);
    EXPECT_EQ(p["api_key_masked"], "sk-f****6789");
    EXPECT_FALSE(p.contains("api_key"));
  }
  EXPECT_TRUE(found);
  struct stat st{};
  // At rest the key is sealed with secret.key (0600), never in clear: providers live in the
  // database (table cloud_providers), not in a file.
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(home_) / "providers.json"));
  const std::string db = database_bytes(home_);
  EXPECT_EQ(db.find(kKey), std::string::npos);
  EXPECT_NE(db.find("api_key_sealed"), std::string::npos);
  ASSERT_EQ(::stat((std::filesystem::path(home_) / "secret.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto t = server().post("/api/settings/providers/fake/test", "", kJson);
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(t.json()["ok"], true) << t.body;
  EXPECT_EQ(t.json()["n_models"], 1);
  EXPECT_EQ(fake_.requests().back().path, "/v1/models");
  EXPECT_EQ(server().post("/api/settings/providers/nobody/test", "", kJson).status, 404);
}

TEST_F(CloudRouting, RulesCrudAndValidation) {
  auto field = [&](const json& rule) {
    auto r = server().post("/api/settings/rules", rule.dump(), kJson);
    EXPECT_EQ(r.status, 400) << r.body;
    return r.json()["error"]["param"];
  };
  EXPECT_EQ(field({{"pattern", "a("}, {"match", "regex"}, {"backend", "fake"}}), "pattern");
  EXPECT_EQ(field({{"pattern", "a"}, {"match", "fuzzy"}, {"backend", "fake"}}), "match");
  EXPECT_EQ(field({{"pattern", "a"}}), "backend");
  EXPECT_EQ(field({{"pattern", "a"}, {"backend", "nobody"}}), "backend");
  EXPECT_EQ(field({{"pattern", "a"}, {"backend", "fake"}, {"fallback", {"ghost"}}}), "fallback");
  EXPECT_EQ(server().post("/api/settings/rules", "{not json", kJson).status, 400);

  const std::string a = add_rule({{"pattern", "m-"}, {"match", "prefix"}, {"backend", "fake"}});
  const std::string b = add_rule({{"pattern", "m-.*"}, {"match", "regex"}, {"backend", "fakeant"}});
  auto t = server().post("/api/settings/rules/test?model=m-1", "", kJson).json();
  EXPECT_EQ(t["matched"], true);
  EXPECT_EQ(t["backend"], "fake");
  EXPECT_EQ(t["rule"]["id"], a);
  EXPECT_EQ(server().post("/api/settings/rules/test", "", kJson).status, 400);

  auto re = server().post("/api/settings/rules/reorder", json{{"ids", {b, a}}}.dump(), kJson);
  ASSERT_EQ(re.status, 200) << re.body;
  EXPECT_EQ(server().post("/api/settings/rules/test?model=m-1", "", kJson).json()["backend"], "fakeant");
  EXPECT_EQ(server().post("/api/settings/rules/reorder", json{{"ids", {b}}}.dump(), kJson).status, 400);

  auto put = server().request("PUT", "/api/settings/rules/" + b,
                              json{{"pattern", "m-2"}, {"backend", "fake"}, {"enabled", false}}.dump(), kJson);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json()["enabled"], false);
  EXPECT_EQ(server().request("PUT", "/api/settings/rules/r_nope", json{{"pattern", "x"}, {"backend", "fake"}}.dump(), kJson).status, 404);
  EXPECT_EQ(server().request("DELETE", "/api/settings/providers/fake").status, 409);  // in use
  EXPECT_EQ(server().request("DELETE", "/api/settings/rules/" + a).status, 204);
  auto list = server().get("/api/settings/rules").json()["rules"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], b);
  EXPECT_EQ(server().post("/api/settings/rules/test?model=m-1", "", kJson).json()["matched"], false);
}

}  // namespace
}  // namespace mlxm::e2e

namespace mlxm::e2e {
namespace {

// Providers and rules from providers.json / routing_rules.json (older versions) are imported
// into the database on the first start, the files renamed *.imported, and not imported again.
TEST(CloudImport, LegacyFilesAreImportedIntoTheDatabaseOnce) {
  char tmpl[] = "/tmp/mlxm-cloud-import-XXXXXX";
  const std::string home = mkdtemp(tmpl);
  const std::filesystem::path h(home);
  {
    std::ofstream(h / "providers.json")
        << json{{"providers", {{{"name", "legacy"}, {"kind", "openai_compatible"},
                                {"base_url", "http://127.0.0.1:9/v1"}, {"api_key", kKey}}}}}.dump();
    std::ofstream(h / "routing_rules.json")
        << json{{"rules", {{{"id", "r_0123456789ab"}, {"pattern", "old-"}, {"match", "prefix"},
                            {"backend", "legacy"}}}}}.dump();
  }
  std::filesystem::permissions(h / "providers.json", std::filesystem::perms::owner_read |
                                                         std::filesystem::perms::owner_write);
  ServerOptions o;
  o.test_routes = false;
  o.env = {{"MLX_MANAGER_HOME", home}, {"OPENAI_API_KEY", ""}, {"ANTHROPIC_API_KEY", ""}};
  auto check = [&](const ServerProcess& s, size_t n_rules) {
    auto providers = s.get("/api/settings/providers").json()["providers"];
    ASSERT_EQ(providers.size(), 1u) << providers.dump();
    EXPECT_EQ(providers[0]["name"], "legacy");
    EXPECT_EQ(providers[0]["has_key"], true);
    auto rules = s.get("/api/settings/rules").json()["rules"];
    ASSERT_EQ(rules.size(), n_rules) << rules.dump();
    EXPECT_EQ(rules[0]["id"], "r_0123456789ab");
  };
  {
    ServerProcess s(o);
    ASSERT_TRUE(s.ok()) << s.error();
    check(s, 1);
    EXPECT_FALSE(std::filesystem::exists(h / "providers.json"));
    EXPECT_FALSE(std::filesystem::exists(h / "routing_rules.json"));
    EXPECT_TRUE(std::filesystem::exists(h / "providers.json.imported"));
    EXPECT_TRUE(std::filesystem::exists(h / "routing_rules.json.imported"));
    const std::string db = database_bytes(home);
    EXPECT_EQ(db.find(kKey), std::string::npos);
    EXPECT_NE(db.find("api_key_sealed"), std::string::npos);
    // An edit after the import is kept by the next start.
    auto r = s.post("/api/settings/rules", json{{"pattern", "new"}, {"backend", "legacy"}}.dump(), kJson);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  {
    ServerProcess s(o);
    ASSERT_TRUE(s.ok()) << s.error();
    check(s, 2);
    EXPECT_EQ(s.get("/api/settings/rules").json()["rules"][1]["pattern"], "new");
    EXPECT_FALSE(std::filesystem::exists(h / "providers.json.imported.1"));
  }
  std::filesystem::remove_all(h);
}

}  // namespace
}  // namespace mlxm::e2e
