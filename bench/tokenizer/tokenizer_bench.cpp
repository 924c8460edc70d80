// Single-thread tokenizer throughput: encode MB/s (first pass = cold word cache, then the best of
// N warm passes) and decode MB/s, per input file.
// Usage: tokenizer_bench MODEL_DIR FILE... [--passes N]
// Never asserts times; prints one line per file.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR FILE... [--passes N]\n", argv[0]);
    return 2;
  }
  int passes = 5;
  std::vector<std::string> files;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--passes") == 0 && i + 1 < argc) {
      passes = std::atoi(argv[++i]);
    } else {
      files.emplace_back(argv[i]);
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  auto tok = mlxm::Tokenizer::load(argv[1]);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().to_string().c_str());
    return 1;
  }
  std::printf("load: %.2f s (%s)\n", seconds_since(t0), argv[1]);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    const double mb = static_cast<double>(text.size()) / 1e6;
    t0 = std::chrono::steady_clock::now();
    auto ids = (*tok)->encode(text, false);
    const double cold = seconds_since(t0);
    double best = 1e30;
    for (int p = 0; p < passes; ++p) {
      t0 = std::chrono::steady_clock::now();
      ids = (*tok)->encode(text, false);
      best = std::min(best, seconds_since(t0));
    }
    t0 = std::chrono::steady_clock::now();
    auto back = (*tok)->decode(ids, false);
    const double dec = seconds_since(t0);
    std::printf("%s: %.2f MB, %zu tokens (%.2f bytes/token): encode cold %.1f MB/s, warm %.1f MB/s; decode %.1f MB/s; round trip %s\n",
                f.c_str(), mb, ids.size(), static_cast<double>(text.size()) / static_cast<double>(ids.size()),
                mb / cold, mb / best, mb / dec, (back.ok() && *back == text) ? "exact" : "differs");
  }
  return 0;
}
