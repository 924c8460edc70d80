// The `grammar` request field (GBNF, llama-server's extension) over real HTTP with a tiny
// random-weight model: its output is noise, so output that always matches the grammar (checked
// against an equivalent std::regex, not the server's own matcher) proves the grammar is
// enforced while decoding, on /v1/chat/completions (streamed and not) and /v1/completions; bad
// grammars and conflicting fields get a 400 naming the problem.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "e2e/tools/tools_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

const char* kModel = "tiny-qwen3";

// A record with a bounded number, an enum, a bounded word list and an unbounded quoted string.
const char* kGrammar = R"(# a small record
root ::= "{\"id\": " id ", \"kind\": " kind ", \"tags\": [" tags? "], \"note\": \"" note "\"}"
id   ::= [1-9] [0-9]{0,3}
kind ::= "\"a\"" | "\"bc\""
tags ::= tag (", " tag){0,2}
tag  ::= [a-z]{1,5}
note ::= [^"\\\n]{0,12}
)";
const std::regex kRegex(
    R"(^\{"id": [1-9][0-9]{0,3}, "kind": ("a"|"bc"), "tags": \[([a-z]{1,5}(, [a-z]{1,5}){0,2})?\], "note": "[^"\\\n]*"\}$)");

// The note's at most 12 characters (the regex cannot count UTF-8 characters).
size_t note_chars(const std::string& s) {
  const size_t at = s.find("\"note\": \"");
  size_t n = 0;
  for (size_t i = at + 9; i + 2 < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  }
  return n;
}

class GrammarFieldTest : public ::testing::Test {
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

  static json chat_body(int seed) {
    return {{"model", kModel},
            {"messages", {{{"role", "user"}, {"content", "Write a record."}}}},
            {"grammar", kGrammar},
            {"max_tokens", 120},
            {"seed", seed},
            {"temperature", 1.0}};
  }
  static void expect_error(const json& body, const std::string& path, const std::string& needle) {
    auto r = server_->post(path, body.dump());
    EXPECT_EQ(r.status, 400) << r.body;
    const json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_EQ(j["error"]["param"], "grammar") << r.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(needle), std::string::npos) << r.body;
  }
  static ServerProcess* server_;
};
ServerProcess* GrammarFieldTest::server_ = nullptr;

TEST_F(GrammarFieldTest, ChatOutputAlwaysMatchesTheGrammar) {
  int distinct = 0;
  std::set<std::string> seen;
  for (int seed = 0; seed < 50; ++seed) {
    auto r = server_->post("/v1/chat/completions", chat_body(seed).dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    const std::string text = j["choices"][0]["message"]["content"].get<std::string>();
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop") << text;
    EXPECT_TRUE(std::regex_match(text, kRegex)) << "seed " << seed << ": " << text;
    EXPECT_LE(note_chars(text), 12u) << text;
    distinct += seen.insert(text).second;
  }
  EXPECT_GT(distinct, 40);  // the samples differ: the grammar constrains, it does not dictate
}

TEST_F(GrammarFieldTest, StreamedChatMatchesTheNonStreamedReply) {
  for (int seed = 100; seed < 104; ++seed) {
    json b = chat_body(seed);
    auto plain = server_->post("/v1/chat/completions", b.dump());
    ASSERT_EQ(plain.status, 200) << plain.body;
    b["stream"] = true;
    const SseRead s = post_stream(*server_, "/v1/chat/completions", b);
    ASSERT_EQ(s.status, 200);
    ASSERT_TRUE(s.done) << s.raw_error;
    std::string streamed;
    for (const auto& ev : s.events) {
      if (!ev.contains("choices") || ev["choices"].empty()) continue;
      const json& d = ev["choices"][0]["delta"];
      if (d.contains("content") && d["content"].is_string()) streamed += d["content"].get<std::string>();
    }
    EXPECT_EQ(streamed, plain.json()["choices"][0]["message"]["content"].get<std::string>());
    EXPECT_TRUE(std::regex_match(streamed, kRegex)) << streamed;
  }
}

TEST_F(GrammarFieldTest, CompletionsOutputAlwaysMatchesTheGrammar) {
  for (int seed = 0; seed < 20; ++seed) {
    const json b = {{"model", kModel}, {"prompt", "Record:"}, {"grammar", kGrammar},
                    {"max_tokens", 120}, {"seed", seed}, {"temperature", 1.0}};
    auto r = server_->post("/v1/completions", b.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    const std::string text = j["choices"][0]["text"].get<std::string>();
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop") << text;
    EXPECT_TRUE(std::regex_match(text, kRegex)) << "seed " << seed << ": " << text;
  }
}

TEST_F(GrammarFieldTest, BadGrammarsAndConflictsAre400) {
  json b = chat_body(1);
  b["grammar"] = "root ::= \"a\" item";
  expect_error(b, "/v1/chat/completions", "the rule 'item' is used but never defined");
  b["grammar"] = "root ::= \"a\"\nnext = \"b\"";
  expect_error(b, "/v1/chat/completions", "line 2, column 6: unexpected '='");
  b["grammar"] = "root ::= root \"a\" | \"b\"";
  json completion = {{"model", kModel}, {"prompt", "x"}, {"grammar", b["grammar"]}};
  expect_error(completion, "/v1/completions", "left-recursive");
  b["grammar"] = 42;
  expect_error(b, "/v1/chat/completions", "must be a non-empty string");
  b["grammar"] = kGrammar;
  b["response_format"] = {{"type", "json_object"}};
  expect_error(b, "/v1/chat/completions", "cannot be used together");
  b.erase("response_format");
  b["tools"] = json::parse(R"([{"type": "function", "function": {"name": "f",
      "parameters": {"type": "object"}}}])");
  b["tool_choice"] = "required";
  expect_error(b, "/v1/chat/completions", "tool_choice");
  // The server is still fine.
  auto ok = server_->post("/v1/chat/completions", chat_body(2).dump());
  EXPECT_EQ(ok.status, 200) << ok.body;
}

}  // namespace
}  // namespace mlxm::e2e
