// response_format over real HTTP with the tiny random-weight model: its output is noise, so
// every reply that parses and validates proves the grammar was enforced while decoding.
#include <gtest/gtest.h>

#include "e2e/openai/openai_fixture.h"

namespace mlxm::e2e {
namespace {

using nlohmann::json;

// Checks the keywords the schema below uses; independent of the server's grammar code.
bool validates(const json& v, const json& s, std::string* why) {
  auto fail = [&](const std::string& m) {
    *why = m + " at " + v.dump();
    return false;
  };
  if (s.contains("enum")) {
    for (const json& e : s["enum"]) {
      if (e == v) return true;
    }
    return fail("enum");
  }
  const std::string t = s.value("type", "");
  if (t == "object") {
    if (!v.is_object()) return fail("object");
    for (const json& r : s["required"]) {
      if (!v.contains(r.get<std::string>())) return fail("required " + r.dump());
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!s["properties"].contains(it.key())) return fail("extra " + it.key());
      if (!validates(it.value(), s["properties"][it.key()], why)) return false;
    }
    return true;
  }
  if (t == "array") {
    if (!v.is_array() || v.size() > s["maxItems"].get<size_t>()) return fail("array");
    for (const json& e : v) {
      if (!validates(e, s["items"], why)) return false;
    }
    return true;
  }
  if (t == "integer") return v.is_number_integer() || fail("integer");
  if (t == "boolean") return v.is_boolean() || fail("boolean");
  if (t == "string") {
    if (!v.is_string()) return fail("string");
    size_t n = 0;
    for (unsigned char c : v.get<std::string>()) n += (c & 0xC0) != 0x80;
    return n <= s["maxLength"].get<size_t>() || fail("maxLength");
  }
  return fail("unknown schema");
}

class StructuredOutputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(
        model_server(tiny_model_dir(), {{"MLX_SERVER_MAX_MODEL_LEN", "1024"}}));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->ok()) << server_->error(); }
  static ServerProcess* server_;
};
ServerProcess* StructuredOutputTest::server_ = nullptr;

const char* kSchemaText = R"({"type": "object", "properties": {
    "id": {"type": "integer"}, "kind": {"enum": ["cat", "dog", 7, null]},
    "ok": {"type": "boolean"}, "code": {"type": "string", "maxLength": 3},
    "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 3}},
    "required": ["id", "kind", "ok", "code", "tags"], "additionalProperties": false})";
const json kSchema = json::parse(kSchemaText);

TEST_F(StructuredOutputTest, JsonSchemaRepliesParseAndValidate) {
  for (int seed = 0; seed < 20; ++seed) {
    // Sent in declared key order (nlohmann::json would sort the schema's keys).
    nlohmann::ordered_json body = {
        {"model", "tiny-q4"},
        {"messages", {{{"role", "user"}, {"content", "Describe a pet as JSON."}}}},
        {"max_tokens", 400},
        {"seed", seed},
        {"temperature", 1.0},
        {"response_format",
         {{"type", "json_schema"},
          {"json_schema",
           {{"name", "pet"},
            {"strict", true},
            {"schema", nlohmann::ordered_json::parse(kSchemaText)}}}}}};
    auto r = server_->post("/v1/chat/completions", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    const std::string content = j["choices"][0]["message"]["content"];
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop") << content;
    const json v = json::parse(content, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << "seed " << seed << ": not JSON: " << content;
    std::string why;
    EXPECT_TRUE(validates(v, kSchema, &why)) << "seed " << seed << ": " << why;
    // Declared order is kept: the first key is the first property.
    EXPECT_EQ(content.find("\"id\""), content.find('"')) << content;
  }
}

TEST_F(StructuredOutputTest, JsonObjectRepliesAreObjectsAndStreamsToo) {
  for (int seed = 0; seed < 3; ++seed) {
    json body = {{"model", "tiny-q4"},
                 {"messages", {{{"role", "user"}, {"content", "JSON please"}}}},
                 {"max_tokens", 600},
                 {"seed", seed},
                 {"response_format", {{"type", "json_object"}}},
                 {"stream", seed == 2}};
    std::string content;
    std::string finish;
    if (seed == 2) {
      SseRead s = post_stream(*server_, "/v1/chat/completions", body);
      ASSERT_EQ(s.status, 200);
      content = stream_text(s);
      finish = s.events.back()["choices"][0]["finish_reason"].get<std::string>();
    } else {
      // 600 tokens of a non-streamed answer: allow for a loaded 2-core machine (nothing is
      // sent until the end, so the client's read timeout must cover the whole generation).
      auto conn = server_->connect();
      ASSERT_TRUE(conn);
      conn->set_timeout_ms(120000);
      auto r = conn->request("POST", "/v1/chat/completions", body.dump(),
                             {{"Content-Type", "application/json"}});
      ASSERT_EQ(r.status, 200) << r.body;
      content = r.json()["choices"][0]["message"]["content"];
      finish = r.json()["choices"][0]["finish_reason"];
    }
    if (finish == "length") continue;  // an unbounded object may run out of tokens
    const json v = json::parse(content, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << content;
    EXPECT_TRUE(v.is_object()) << content;
  }
}

TEST_F(StructuredOutputTest, BadSchemasAre400) {
  for (const json& rf : {json{{"type", "json_schema"},
                              {"json_schema", {{"name", "x"}, {"schema", {{"type", "frob"}}}}}},
                         json{{"type", "json_schema"},
                              {"json_schema", {{"schema", {{"$ref", "#/nope"}}}}}},
                         json{{"type", "yaml"}}}) {
    json body = {{"model", "tiny-q4"},
                 {"messages", {{{"role", "user"}, {"content", "x"}}}},
                 {"response_format", rf}};
    auto r = server_->post("/v1/chat/completions", body.dump());
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.json()["error"]["param"], "response_format") << r.body;
  }
}

}  // namespace
}  // namespace mlxm::e2e
