// e2e: a generation that is complete before the server hands its response a connection
// (MLXM_DEBUG_HANDOFF_DELAY_MS holds every deferred/streamed response back for a while; a
// 2-token answer of the tiny model is done long before) must still be delivered in full, on
// both APIs, streamed and not. This once hung: the session was only weakly held by its
// response, so it could be gone, with its buffered answer, when the server asked for it.
#include <gtest/gtest.h>

#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

ServerOptions delayed_server() {
  return model_server(tiny_model_dir(), {{"MLXM_DEBUG_HANDOFF_DELAY_MS", "400"}});
}

nlohmann::json chat_body(bool stream) {
  return {{"model", "tiny-q4"},
          {"messages", {{{"role", "user"}, {"content", "hi"}}}},
          {"max_tokens", 2},
          {"temperature", 0},
          {"stream", stream}};
}

nlohmann::json messages_body(bool stream) {
  return {{"model", "tiny-q4"},
          {"messages", {{{"role", "user"}, {"content", "hi"}}}},
          {"max_tokens", 2},
          {"stream", stream}};
}

TEST(HandoffE2E, FinishedAnswersAreDeliveredOnBothApis) {
  ServerProcess server(delayed_server());
  ASSERT_TRUE(server.ok()) << server.error();

  auto chat = server.post("/v1/chat/completions", chat_body(false).dump());
  ASSERT_EQ(chat.status, 200) << chat.body << server.log();
  EXPECT_EQ(chat.json()["usage"]["completion_tokens"], 2) << chat.body;

  SseRead chat_stream = post_stream(server, "/v1/chat/completions", chat_body(true));
  EXPECT_EQ(chat_stream.status, 200);
  EXPECT_TRUE(chat_stream.done) << chat_stream.raw_error;
  ASSERT_FALSE(chat_stream.events.empty());
  EXPECT_EQ(chat_stream.events.front()["choices"][0]["delta"]["role"], "assistant");

  auto msg = server.post("/v1/messages", messages_body(false).dump());
  ASSERT_EQ(msg.status, 200) << msg.body;
  EXPECT_EQ(msg.json()["usage"]["output_tokens"], 2) << msg.body;

  // Anthropic streams end with message_stop (no [DONE]).
  auto raw = server.post("/v1/messages", messages_body(true).dump());
  EXPECT_EQ(raw.status, 200);
  EXPECT_NE(raw.body.find("event: message_start"), std::string::npos) << raw.body;
  EXPECT_NE(raw.body.find("event: message_stop"), std::string::npos) << raw.body;
}

}  // namespace
}  // namespace mlxm::e2e
