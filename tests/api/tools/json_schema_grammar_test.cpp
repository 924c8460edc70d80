// JSON Schema -> grammar -> token mask: random walks through the mask over a small vocabulary
// always end in JSON that parses and validates (an independent mini validator below), the mask
// equals brute force on schema grammars, and forced tool-call grammars parse back into calls.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>

#include "api/tools/json_schema_grammar.h"
#include "api/tools/tool_grammar.h"
#include "api/tools/tool_parser.h"
#include "grammar/grammar_processor.h"
#include "grammar/token_trie.h"
#include "tokenizer/tokenizer.h"

namespace mlxm::api {
namespace {

using nlohmann::json;

// A deliberately small validator for the keywords the tests use.
bool validate(const json& v, const json& s, const json& root, std::string* why) {
  auto fail = [&](const std::string& m) {
    *why = m + " at " + v.dump();
    return false;
  };
  if (s.is_boolean()) return s.get<bool>() || fail("false schema");
  if (s.contains("$ref")) {
    const std::string r = s["$ref"];
    return validate(v, root.at(json::json_pointer(r.substr(1))), root, why);
  }
  if (s.contains("const") && v != s["const"]) return fail("const");
  if (s.contains("enum")) {
    bool found = false;
    for (const json& e : s["enum"]) found = found || e == v;
    if (!found) return fail("enum");
  }
  for (const char* k : {"anyOf", "oneOf"}) {
    if (!s.contains(k)) continue;
    int n = 0;
    for (const json& sub : s[k]) n += validate(v, sub, root, why) ? 1 : 0;
    if (n == 0 || (std::string(k) == "oneOf" && n > 1)) return fail(k);
  }
  if (s.contains("type")) {
    std::vector<std::string> types;
    if (s["type"].is_array()) {
      for (const json& t : s["type"]) types.push_back(t);
    } else {
      types.push_back(s["type"]);
    }
    bool ok = false;
    for (const std::string& t : types) {
      ok = ok || (t == "string" && v.is_string()) || (t == "integer" && v.is_number_integer()) ||
           (t == "number" && v.is_number()) || (t == "boolean" && v.is_boolean()) ||
           (t == "null" && v.is_null()) || (t == "object" && v.is_object()) ||
           (t == "array" && v.is_array());
    }
    if (!ok) return fail("type");
  }
  if (v.is_string()) {
    const std::string str = v;
    size_t n_cp = 0;
    for (unsigned char c : str) n_cp += (c & 0xC0) != 0x80;
    if (s.contains("maxLength") && n_cp > s["maxLength"].get<size_t>()) return fail("maxLength");
    if (s.contains("minLength") && n_cp < s["minLength"].get<size_t>()) return fail("minLength");
  }
  if (v.is_number() && s.contains("minimum") && v.get<double>() < s["minimum"].get<double>()) {
    return fail("minimum");
  }
  if (v.is_object()) {
    const json props = s.value("properties", json::object());
    for (const json& r : s.value("required", json::array())) {
      if (!v.contains(r.get<std::string>())) return fail("required " + r.dump());
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (props.contains(it.key())) {
        if (!validate(it.value(), props[it.key()], root, why)) return false;
      } else if (s.value("additionalProperties", json(true)) == json(false)) {
        return fail("additional property " + it.key());
      }
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return fail("minItems");
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return fail("maxItems");
    if (s.contains("items")) {
      for (const json& e : v) {
        if (!validate(e, s["items"], root, why)) return false;
      }
    }
  }
  return true;
}

// Every printable ASCII byte, newline, UTF-8 pieces (whole and split) and JSON-ish chunks.
std::vector<std::string> test_vocab() {
  std::vector<std::string> v;
  for (int c = 0x20; c < 0x7f; ++c) v.push_back(std::string(1, static_cast<char>(c)));
  for (const char* t : {"\n", "\n  ", "\xC3\xA9", "\xC3", "\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                        "\xF0\x9F", "\x98\x80", "{\"", "\":", "\": ", "\", \"", "true", "false",
                        "null", "12", "-3", ".5", "e+", "\\u00e9", "\\ud83d", "\\n", "},", "]}",
                        "\"name\"", "\"arguments\"", " {\"", "<tool_call>", "</tool_call>",
                        "\"}", "\"]", "[\"", "0", "00", "-0", "1e5"}) {
    v.push_back(t);
  }
  return v;
}

// Samples one output: uniform over the allowed tokens; at an accepting state stops with p=1/2.
std::string random_walk(grammar::CompiledGrammar& cg, std::mt19937& rng, bool* complete) {
  grammar::Matcher m(cg.grammar());
  std::string out;
  for (int step = 0; step < 3000; ++step) {
    if (m.accepting() && (m.at_end() || rng() % 2 == 0)) {
      *complete = true;
      return out;
    }
    const grammar::TokenMask& mask = cg.mask(m);
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < cg.trie().vocab_size(); ++id) {
      if ((mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1) allowed.push_back(id);
    }
    if (allowed.empty()) break;
    const int32_t t = allowed[rng() % allowed.size()];
    EXPECT_TRUE(m.advance(cg.trie().token_bytes(t)));
    m.compact();
    out += cg.trie().token_bytes(t);
  }
  *complete = false;
  return out;
}

const char* kSchemas[] = {
    R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0}, "tags": {"type": "array",
        "items": {"enum": ["a", "b", 3, null]}, "maxItems": 3}}, "required": ["name", "age"],
        "additionalProperties": false})",
    R"({"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"},
        "ok": {"type": "boolean"}}, "required": ["ok"]}, "minItems": 1, "maxItems": 2})",
    R"({"anyOf": [{"type": "string", "minLength": 2, "maxLength": 4}, {"type": "null"},
        {"const": {"k": [1, 2]}}]})",
    R"({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
        "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
        "required": ["v", "next"]}}, "$ref": "#/$defs/node"})",
    R"({"type": ["integer", "string"], "maxLength": 3})",
    R"({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3},
        "b": {"type": "string", "maxLength": 3}, "c": {"type": "string", "maxLength": 3}}})",
};

TEST(JsonSchemaGrammar, RandomWalksAlwaysParseAndValidate) {
  auto trie = grammar::TokenTrie::from_bytes(test_vocab());
  std::mt19937 rng(1234);
  for (const char* text : kSchemas) {
    const json schema = json::parse(text);
    auto g = json_schema_grammar(nlohmann::ordered_json::parse(text));
    ASSERT_TRUE(g.ok()) << g.status().to_string() << " for " << text;
    grammar::CompiledGrammar cg(*g, trie, {});
    int n_complete = 0;
    for (int i = 0; i < 60; ++i) {
      bool complete = false;
      const std::string out = random_walk(cg, rng, &complete);
      if (!complete) continue;  // ran past the step bound (never happens with these schemas)
      ++n_complete;
      const json v = json::parse(out, nullptr, false);
      ASSERT_FALSE(v.is_discarded()) << "not JSON: " << out << "\nschema " << text;
      std::string why;
      EXPECT_TRUE(validate(v, schema, schema, &why)) << why << "\noutput " << out;
    }
    EXPECT_GE(n_complete, 55) << text;
  }
}

// The same walk over a real 32k SentencePiece vocabulary (the bundled demo model's: multi-byte
// tokens, byte fallback, specials): the allowed token is drawn by rank among the mask's set bits.
std::string random_walk_real(grammar::CompiledGrammar& cg, std::mt19937& rng, bool* complete) {
  grammar::Matcher m(cg.grammar());
  std::string out;
  for (int step = 0; step < 4000; ++step) {
    if (m.accepting() && (m.at_end() || rng() % 2 == 0)) {
      *complete = true;
      return out;
    }
    const grammar::TokenMask& mask = cg.mask(m);
    size_t n_allowed = 0;
    for (uint64_t w : mask) n_allowed += static_cast<size_t>(__builtin_popcountll(w));
    if (n_allowed == 0) break;
    size_t pick = rng() % n_allowed;
    int32_t t = -1;
    for (size_t wi = 0; wi < mask.size() && t < 0; ++wi) {
      const size_t c = static_cast<size_t>(__builtin_popcountll(mask[wi]));
      if (pick >= c) {
        pick -= c;
        continue;
      }
      uint64_t w = mask[wi];
      for (size_t k = 0; k < pick; ++k) w &= w - 1;  // drop the lowest set bits
      t = static_cast<int32_t>(wi * 64 + static_cast<size_t>(__builtin_ctzll(w)));
    }
    EXPECT_TRUE(m.advance(cg.trie().token_bytes(t)));
    m.compact();
    out += cg.trie().token_bytes(t);
  }
  *complete = false;
  return out;
}

// Issue 11: 1,000+ constrained samples over schemas with nested objects, arrays, enums,
// required fields, numbers and bounded strings always parse and validate.
TEST(JsonSchemaGrammar, ThousandSamplesOverARealVocabularyParseAndValidate) {
  auto tok = Tokenizer::load(std::string(MLXM_SOURCE_DIR) + "/models/demo");
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  auto trie = grammar::TokenTrie::build(**tok);
  std::mt19937 rng(20261129);
  int n_valid = 0;
  for (const char* text : kSchemas) {
    const json schema = json::parse(text);
    auto g = json_schema_grammar(nlohmann::ordered_json::parse(text));
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    grammar::CompiledGrammar cg(*g, trie, {});
    for (int i = 0; i < 170; ++i) {
      bool complete = false;
      const std::string out = random_walk_real(cg, rng, &complete);
      ASSERT_TRUE(complete) << "no end within the step bound: " << out.substr(0, 200);
      const json v = json::parse(out, nullptr, false);
      ASSERT_FALSE(v.is_discarded()) << "not JSON: " << out << "\nschema " << text;
      std::string why;
      ASSERT_TRUE(validate(v, schema, schema, &why)) << why << "\noutput " << out;
      ++n_valid;
    }
  }
  EXPECT_GE(n_valid, 1000);
}

TEST(JsonSchemaGrammar, MaskMatchesBruteForceInsideSchemas) {
  auto trie = grammar::TokenTrie::from_bytes(test_vocab());
  auto g = json_schema_grammar(nlohmann::ordered_json::parse(kSchemas[0]));
  ASSERT_TRUE(g.ok());
  grammar::CompiledGrammar cg(*g, trie, {});
  for (const char* prefix : {"", "{", "{\"na", "{\"name\": \"\xC3", "{\"name\":\"x\",\"age\":1",
                             "{\"name\":\"abcdefghijkl", "{\"name\":\"\",\"age\":0,\"tags\":["}) {
    grammar::Matcher m(*g);
    ASSERT_TRUE(m.advance(prefix)) << prefix;
    grammar::TokenMask mask;
    cg.compute_mask(m, &mask);
    for (int32_t id = 0; id < trie->vocab_size(); ++id) {
      grammar::Matcher copy = m;
      const bool valid = copy.advance(trie->token_bytes(id));
      EXPECT_EQ(valid, static_cast<bool>((mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1))
          << "prefix " << prefix << " token " << trie->token_bytes(id);
    }
  }
}

TEST(JsonSchemaGrammar, RejectsBadSchemasWithAMessage) {
  for (const char* text : {"false", R"({"$ref": "#/$defs/missing"})", R"({"type": "frob"})",
                           R"({"enum": []})", R"({"type": "string", "maxLength": -1})",
                           R"({"$ref": "http://x/y"})", "3"}) {
    auto g = json_schema_grammar(nlohmann::ordered_json::parse(text));
    EXPECT_FALSE(g.ok()) << text;
  }
  EXPECT_NE(json_object_grammar(), nullptr);
}

TEST(ToolGrammar, ForcedCallsParseBackAndArgumentsValidate) {
  const char* tools_text = R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"type": "string", "maxLength": 6}, "unit": {"enum": ["c", "f"]}},
      "required": ["city", "unit"], "additionalProperties": false}}},
    {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
      "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
      "required": ["a", "b"]}}}])";
  const json tools = json::parse(tools_text);
  const auto otools = nlohmann::ordered_json::parse(tools_text);
  auto trie = grammar::TokenTrie::from_bytes(test_vocab());
  std::mt19937 rng(99);
  for (ToolFormat f : {ToolFormat::kHermes, ToolFormat::kLlama3, ToolFormat::kMistral,
                       ToolFormat::kJson, ToolFormat::kQwen3Coder}) {
    for (bool parallel : {false, true}) {
      for (const std::string only : {"", "add"}) {
        auto g = tool_call_grammar(f, otools, only, parallel);
        ASSERT_TRUE(g.ok()) << g.status().to_string();
        grammar::CompiledGrammar cg(*g, trie, {});
        for (int i = 0; i < 10; ++i) {
          bool complete = false;
          const std::string out = random_walk(cg, rng, &complete);
          ASSERT_TRUE(complete) << out;
          auto parsed = parse_tool_calls(f, out, /*forced=*/true, tools);
          ASSERT_FALSE(parsed.calls.empty()) << tool_format_name(f) << ": " << out;
          EXPECT_EQ(parsed.content, "") << out;
          if (!parallel) {
            EXPECT_EQ(parsed.calls.size(), 1u) << out;
          }
          for (const ToolCall& c : parsed.calls) {
            if (!only.empty()) {
              EXPECT_EQ(c.name, only);
            }
            const json& schema = c.name == "add" ? tools[1]["function"]["parameters"]
                                                 : tools[0]["function"]["parameters"];
            std::string why;
            EXPECT_TRUE(validate(json::parse(c.arguments), schema, schema, &why))
                << why << " " << out;
          }
        }
      }
    }
  }
  EXPECT_FALSE(tool_call_grammar(ToolFormat::kHermes, otools, "nope", false).ok());
  EXPECT_FALSE(
      tool_call_grammar(ToolFormat::kHermes, nlohmann::ordered_json::array(), "", false).ok());
}

}  // namespace
}  // namespace mlxm::api
