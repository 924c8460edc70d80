#include "serving/output/stop_matcher.h"

#include <gtest/gtest.h>

namespace mlxm::serving {
namespace {

// Feeds pieces one by one and returns (sent text, stopped).
std::pair<std::string, bool> run(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string sent;
  for (const auto& p : pieces) {
    auto st = m.feed(p);
    sent += st.text;
    if (st.stopped) return {sent, true};
  }
  sent += m.flush();
  return {sent, false};
}

TEST(StopMatcherTest, NoStopsPassesEverything) {
  StopMatcher m({});
  EXPECT_EQ(run(m, {"a", "b", "c"}), std::make_pair(std::string("abc"), false));
}

TEST(StopMatcherTest, MatchAcrossTokenBoundaries) {
  StopMatcher m({"END"});
  auto [text, stopped] = run(m, {"hello E", "N", "D world"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(text, "hello ");
}

TEST(StopMatcherTest, HeldPrefixReleasedWhenItDiverges) {
  StopMatcher m({"END"});
  auto a = m.feed("say EN");
  EXPECT_EQ(a.text, "say ");
  auto b = m.feed("OUGH");
  EXPECT_EQ(b.text, "ENOUGH");
  EXPECT_FALSE(b.stopped);
}

TEST(StopMatcherTest, FlushReleasesHeldTextAtEos) {
  StopMatcher m({"###"});
  EXPECT_EQ(m.feed("done #").text, "done ");
  EXPECT_EQ(m.flush(), "#");
}

TEST(StopMatcherTest, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "lo w"});
  auto [text, stopped] = run(m, {"hello world"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(text, "hel");
}

TEST(StopMatcherTest, NothingAfterStop) {
  StopMatcher m({"\n"});
  auto s = m.feed("line one\nline two");
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.text, "line one");
  EXPECT_TRUE(m.feed("more").text.empty());
  EXPECT_TRUE(m.flush().empty());
}

TEST(StopMatcherTest, MultiByteUtf8Stops) {
  StopMatcher m({"。"});
  auto [text, stopped] = run(m, {"你好", "\xe3\x80", "\x82", "再见"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(text, "你好");
}

}  // namespace
}  // namespace mlxm::serving
