#include "cloud/sse_parser.h"

#include <gtest/gtest.h>

#include <vector>

namespace mlxm::cloud {
namespace {

std::vector<SseEvent> parse_in_pieces(const std::string& text, size_t piece) {
  SseParser p;
  std::vector<SseEvent> out;
  for (size_t i = 0; i < text.size(); i += piece) {
    EXPECT_TRUE(p.feed(std::string_view(text).substr(i, piece), [&](SseEvent&& e) { out.push_back(e); }).ok());
  }
  return out;
}

TEST(SseParser, EventsSurviveEverySplit) {
  const std::string text =
      ": comment\r\n"
      "event: message_start\r\n"
      "data: {\"a\":1}\r\n"
      "\r\n"
      "data: line one\n"
      "data:line two\n"
      "id: 7\n"
      "\n"
      "data: cr only\r\r"
      "data: [DONE]\n\n";
  for (size_t piece = 1; piece <= text.size(); ++piece) {
    auto ev = parse_in_pieces(text, piece);
    ASSERT_EQ(ev.size(), 4u) << "piece " << piece;
    EXPECT_EQ(ev[0].event, "message_start");
    EXPECT_EQ(ev[0].data, "{\"a\":1}");
    EXPECT_EQ(ev[1].event, "");
    EXPECT_EQ(ev[1].data, "line one\nline two");
    EXPECT_EQ(ev[1].id, "7");
    EXPECT_EQ(ev[2].data, "cr only");
    EXPECT_EQ(ev[3].data, "[DONE]");
  }
}

TEST(SseParser, BlankLinesWithoutDataDispatchNothing) {
  SseParser p;
  int n = 0;
  ASSERT_TRUE(p.feed("event: ping\n\n\n: keep-alive\n\n", [&](SseEvent&&) { ++n; }).ok());
  EXPECT_EQ(n, 0);
  EXPECT_FALSE(p.has_partial());
}

TEST(SseParser, FieldWithoutColonAndEmptyData) {
  SseParser p;
  std::vector<SseEvent> out;
  ASSERT_TRUE(p.feed("data\n\ndata:\ndata:\n\n", [&](SseEvent&& e) { out.push_back(e); }).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].data, "");
  EXPECT_EQ(out[1].data, "\n");
}

TEST(SseParser, CutStreamLeavesPartial) {
  SseParser p;
  int n = 0;
  ASSERT_TRUE(p.feed("data: {\"x\":", [&](SseEvent&&) { ++n; }).ok());
  EXPECT_EQ(n, 0);
  EXPECT_TRUE(p.has_partial());
}

TEST(SseParser, OverlongLineIsAnErrorAndSticks) {
  SseParser p(16);
  auto st = p.feed("data: 0123456789abcdefghij", [](SseEvent&&) {});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exceeds 16 bytes"), std::string::npos);
  EXPECT_FALSE(p.feed("\n\n", [](SseEvent&&) {}).ok());
}

}  // namespace
}  // namespace mlxm::cloud
