// Errors that the HTTP layer answers by itself (routing 404/405, 413/431/400 while reading, the
// draining 503) and the auth guard's denials come in the Anthropic shape
// {"type":"error","error":{"type","message"}} on /v1/messages and /v1/messages/count_tokens
// (DESIGN §6), and stay in the OpenAI shape elsewhere (/v1/chat/completions).
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

const HeaderList kAnthropic = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}};

// The Anthropic error type of `r`, after checking the whole shape; "" when it is not one.
std::string anthropic_error_type(const HttpResult& r) {
  const json j = r.json();
  if (!j.is_object() || j.value("type", "") != "error" || !j.contains("error") ||
      !j["error"].is_object() || !j["error"].contains("message") || !j["error"]["message"].is_string() ||
      j["error"]["message"].get<std::string>().empty() || j.size() != 2) {
    return "";
  }
  return j["error"].value("type", "");
}

bool is_openai_error(const HttpResult& r) {
  const json j = r.json();
  return j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
         j["error"].contains("code") && j["error"].contains("param") && !j.contains("type");
}

// Sends raw bytes on a fresh connection and reads the answer.
HttpResult raw(const ServerProcess& s, const std::string& bytes) {
  auto conn = s.connect();
  if (!conn || !conn->send_raw(bytes)) return {};
  return conn->read_response();
}

class AnthropicHttpErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.test_routes = false;
    server_ = std::make_unique<ServerProcess>(o);
    ASSERT_TRUE(server_->ok()) << server_->error();
  }
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(AnthropicHttpErrors, UnknownPathUnderMessagesIs404NotFoundError) {
  auto r = server_->post("/v1/messages/nope", "{}", kAnthropic);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(anthropic_error_type(r), "not_found_error") << r.body;
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("/v1/messages/nope"), std::string::npos);
  // A path that only starts with the same letters is not under /v1/messages.
  auto other = server_->post("/v1/messagesx", "{}", kAnthropic);
  EXPECT_EQ(other.status, 404);
  EXPECT_TRUE(is_openai_error(other)) << other.body;
}

TEST_F(AnthropicHttpErrors, WrongMethodIs405InvalidRequestWithAllow) {
  for (const char* path : {"/v1/messages", "/v1/messages/count_tokens"}) {
    auto r = server_->get(path, kAnthropic);
    EXPECT_EQ(r.status, 405) << path;
    EXPECT_EQ(anthropic_error_type(r), "invalid_request_error") << r.body;
    EXPECT_EQ(r.header("Allow"), "POST");
  }
  auto chat = server_->get("/v1/chat/completions");
  EXPECT_EQ(chat.status, 405);
  EXPECT_TRUE(is_openai_error(chat)) << chat.body;
  EXPECT_EQ(chat.json()["error"]["code"], "method_not_allowed");
}

TEST_F(AnthropicHttpErrors, BodyOverTheLimitIs413RequestTooLarge) {
  // The declared length is over the 16 MiB limit: refused once the head is read.
  const std::string head = " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: 20000000\r\n\r\n";
  auto r = raw(*server_, "POST /v1/messages" + head);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(anthropic_error_type(r), "request_too_large") << r.body;
  auto count = raw(*server_, "POST /v1/messages/count_tokens?beta=true" + head);
  EXPECT_EQ(count.status, 413);
  EXPECT_EQ(anthropic_error_type(count), "request_too_large") << count.body;
  auto chat = raw(*server_, "POST /v1/chat/completions" + head);
  EXPECT_EQ(chat.status, 413);
  EXPECT_TRUE(is_openai_error(chat)) << chat.body;
  EXPECT_EQ(chat.json()["error"]["code"], "request_too_large");
}

TEST_F(AnthropicHttpErrors, HeadersOverTheLimitAre431InvalidRequest) {
  const std::string big = "X-Big: " + std::string(20000, 'a') + "\r\n";
  auto r = raw(*server_, "POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + big + "\r\n");
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(anthropic_error_type(r), "invalid_request_error") << r.body;
  auto chat = raw(*server_, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + big + "\r\n");
  EXPECT_EQ(chat.status, 431);
  EXPECT_TRUE(is_openai_error(chat)) << chat.body;
}

TEST_F(AnthropicHttpErrors, MalformedRequestsAre400InvalidRequest) {
  // A malformed HTTP request (the layer's own 400).
  auto r = raw(*server_, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(anthropic_error_type(r), "invalid_request_error") << r.body;
  auto chat = raw(*server_, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
  EXPECT_EQ(chat.status, 400);
  EXPECT_TRUE(is_openai_error(chat)) << chat.body;
  // Malformed JSON bodies.
  for (const char* path : {"/v1/messages", "/v1/messages/count_tokens"}) {
    auto j = server_->post(path, "{\"model\": ", kAnthropic);
    EXPECT_EQ(j.status, 400) << path;
    EXPECT_EQ(anthropic_error_type(j), "invalid_request_error") << j.body;
    EXPECT_NE(j.body.find("JSON"), std::string::npos) << j.body;
  }
  auto chat_json = server_->post("/v1/chat/completions", "{\"model\": ", {{"Content-Type", "application/json"}});
  EXPECT_EQ(chat_json.status, 400);
  EXPECT_TRUE(is_openai_error(chat_json)) << chat_json.body;
}

TEST(AnthropicHttpErrorsDrain, DrainingIs503Overloaded) {
  ServerOptions o;
  o.env["MLX_SERVER_DRAIN_TIMEOUT_SECONDS"] = "10";
  ServerProcess server(o);
  ASSERT_TRUE(server.ok()) << server.error();
  auto idle = server.connect();
  auto idle_chat = server.connect();
  ASSERT_TRUE(idle && idle_chat);
  ASSERT_EQ(idle->request("GET", "/health").status, 200);
  ASSERT_EQ(idle_chat->request("GET", "/health").status, 200);
  auto slow = server.connect();  // keeps the server draining
  ASSERT_TRUE(slow && slow->send_request("GET", "/test/slow?ms=1500"));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  server.signal(SIGTERM);
  ASSERT_TRUE(eventually([&] { return HttpConnection::connect(server.port()) == nullptr; }, 2000));

  auto r = idle->request("POST", "/v1/messages", "{}", kAnthropic);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(anthropic_error_type(r), "overloaded_error") << r.body;
  EXPECT_EQ(r.header("Retry-After"), "5");
  auto chat = idle_chat->request("POST", "/v1/chat/completions", "{}", {{"Content-Type", "application/json"}});
  EXPECT_EQ(chat.status, 503);
  EXPECT_TRUE(is_openai_error(chat)) << chat.body;
  EXPECT_EQ(chat.json()["error"]["code"], "server_draining");
  EXPECT_EQ(server.wait_exit(5000), 0) << server.log();
}

TEST(AnthropicHttpErrorsAuth, GuardDenialsAreAnthropicShaped) {
  ServerOptions o;
  o.test_routes = false;
  o.env["MLX_SERVER_API_KEYS"] = "sk-e2e-key-1";
  o.env["MLX_SERVER_RATE_LIMIT_RPM"] = "2";
  ServerProcess server(o);
  ASSERT_TRUE(server.ok()) << server.error();

  auto missing = server.post("/v1/messages", "{}", kAnthropic);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(anthropic_error_type(missing), "authentication_error") << missing.body;
  HeaderList bad = kAnthropic;
  bad.emplace_back("x-api-key", "sk-wrong");
  auto wrong = server.post("/v1/messages/count_tokens", "{}", bad);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(anthropic_error_type(wrong), "authentication_error") << wrong.body;
  auto chat = server.post("/v1/chat/completions", "{}", {{"Content-Type", "application/json"}});
  EXPECT_EQ(chat.status, 401);
  EXPECT_TRUE(is_openai_error(chat)) << chat.body;

  // The rate limit (2 a minute per key): the third request is refused.
  HeaderList good = kAnthropic;
  good.emplace_back("x-api-key", "sk-e2e-key-1");
  HttpResult last;
  for (int i = 0; i < 3; ++i) last = server.post("/v1/messages", "{}", good);
  EXPECT_EQ(last.status, 429);
  EXPECT_EQ(anthropic_error_type(last), "rate_limit_error") << last.body;
  EXPECT_FALSE(last.header("Retry-After").empty());
}

}  // namespace
}  // namespace mlxm::e2e
