// mask_bench <tokenizer dir> [n_tokens]: generates JSON under a schema by random walks through
// the token mask (uniform over allowed tokens, like a random-weight model) and reports the
// per-token cost of the mask: cold (trie walk, cache disabled) and warm (per-state cache, as
// served), plus the row-masking pass and the one-off trie build. Prints medians.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "api/tools/json_schema_grammar.h"
#include "grammar/grammar_processor.h"
#include "tokenizer/tokenizer.h"

using namespace mlxm;
using Clock = std::chrono::steady_clock;

static double ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
static double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: mask_bench <tokenizer dir> [n_tokens]\n");
    return 2;
  }
  const int n_tokens = argc > 2 ? std::atoi(argv[2]) : 400;
  auto tok = Tokenizer::load(argv[1]);
  if (!tok.ok()) {
    std::fprintf(stderr, "%s\n", tok.status().to_string().c_str());
    return 1;
  }
  auto t0 = Clock::now();
  auto trie = grammar::TokenTrie::build(**tok);
  auto t1 = Clock::now();
  std::printf("vocab %d, trie %zu nodes, build %.1f ms\n", trie->vocab_size(),
              trie->nodes().size(), ms(t0, t1));
  const auto schema = nlohmann::ordered_json::parse(R"({"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 40}, "age": {"type": "integer"},
      "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 4},
      "ok": {"type": "boolean"}}, "required": ["name", "age", "tags", "ok"]})");
  auto g = api::json_schema_grammar(schema);
  if (!g.ok()) return 1;
  grammar::CompiledGrammar cg(*g, trie, {});
  std::mt19937 rng(7);
  std::vector<double> cold, warm, apply;
  std::vector<float> row(static_cast<size_t>(trie->vocab_size()));
  int produced = 0, docs = 0;
  while (produced < n_tokens) {
    grammar::Matcher m(*g);
    ++docs;
    for (int step = 0; step < 400 && produced < n_tokens; ++step) {
      if (m.accepting()) break;
      grammar::TokenMask fresh;
      auto a = Clock::now();
      cg.compute_mask(m, &fresh);
      auto b = Clock::now();
      const grammar::TokenMask& cached = cg.mask(m);
      auto c = Clock::now();
      cold.push_back(ms(a, b));
      warm.push_back(ms(b, c));
      // The masking pass over a full row, as GrammarProcessor::process does it.
      auto d = Clock::now();
      size_t n_allowed = 0;
      for (size_t i = 0; i < row.size(); ++i) {
        if ((cached[i >> 6] >> (i & 63)) & 1) {
          ++n_allowed;
        } else {
          row[i] = -1e30f;
        }
      }
      apply.push_back(ms(d, Clock::now()));
      std::vector<int32_t> allowed;
      for (int32_t id = 0; id < trie->vocab_size(); ++id) {
        if ((cached[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1) allowed.push_back(id);
      }
      if (allowed.empty()) break;
      const int32_t t = allowed[rng() % allowed.size()];
      m.advance(trie->token_bytes(t));
      m.compact();
      ++produced;
      (void)n_allowed;
    }
  }
  std::printf("%d tokens over %d documents\n", produced, docs);
  std::printf("mask per token: cold (trie walk) median %.3f ms, max %.3f ms\n", median(cold),
              *std::max_element(cold.begin(), cold.end()));
  std::printf("mask per token: warm (as served: cache lookup or walk) median %.4f ms, mean %.4f ms; cache hits %zu / %zu\n",
              median(warm), [&] { double s = 0; for (double x : warm) s += x; return s / warm.size(); }(),
              cg.cache_hits(), cg.cache_hits() + cg.cache_misses());
  std::printf("row masking pass: median %.4f ms\n", median(apply));
  return 0;
}
