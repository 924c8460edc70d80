// SSE parsing, including events split at every possible byte boundary.
#include "bench/sse.h"

#include <gtest/gtest.h>

namespace mlxm::bench {
namespace {

std::vector<SseEvent> feed_all(SseParser& p, const std::vector<std::string>& pieces) {
  std::vector<SseEvent> out;
  for (const auto& piece : pieces) {
    for (auto& e : p.feed(piece)) out.push_back(std::move(e));
  }
  return out;
}

const std::string kStream =
    "data: {\"a\":1}\n\n"
    ": keep-alive comment\n\n"
    "event: content_block_delta\r\ndata: {\"b\":2}\r\n\r\n"
    "data: line1\ndata: line2\n\n"
    "data:no-space\n\n"
    "id: 7\nretry: 100\ndata: [DONE]\n\n";

void expect_events(const std::vector<SseEvent>& ev) {
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].data, "{\"a\":1}");
  EXPECT_EQ(ev[0].event, "");
  EXPECT_EQ(ev[1].event, "content_block_delta");
  EXPECT_EQ(ev[1].data, "{\"b\":2}");
  EXPECT_EQ(ev[2].data, "line1\nline2");
  EXPECT_EQ(ev[3].data, "no-space");
  EXPECT_EQ(ev[4].data, "[DONE]");
}

TEST(SseParser, WholeStream) {
  SseParser p;
  expect_events(feed_all(p, {kStream}));
  EXPECT_FALSE(p.has_partial());
}

TEST(SseParser, SplitAtEveryByte) {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    SseParser p;
    expect_events(feed_all(p, {kStream.substr(0, cut), kStream.substr(cut)}));
  }
  SseParser p;  // one byte at a time
  std::vector<std::string> bytes;
  for (char c : kStream) bytes.emplace_back(1, c);
  expect_events(feed_all(p, bytes));
}

TEST(SseParser, EventNeedsBlankLine) {
  SseParser p;
  EXPECT_TRUE(p.feed("data: x\n").empty());
  EXPECT_TRUE(p.has_partial());
  auto ev = p.feed("\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "x");
  EXPECT_FALSE(p.has_partial());
}

TEST(SseParser, CrlfSplitBetweenCrAndLf) {
  SseParser p;
  auto ev = feed_all(p, {"data: y\r", "\n\r", "\n"});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "y");
}

TEST(SseParser, OverlongLineIsFlagged) {
  SseParser p;
  p.max_line_bytes = 8;
  (void)p.feed("data: 0123456789\n\n");
  EXPECT_TRUE(p.overflowed());
}

}  // namespace
}  // namespace mlxm::bench
