// mask_bench <tokenizer dir> [n_tokens] [walk]: generates JSON documents under a realistic
// schema (nested objects, arrays of objects, enums, numbers, bounded and unbounded strings) by
// random walks through the token mask, like a random-weight model: uniform over the allowed
// tokens, except that with probability 0.15 a token holding a quote is drawn when one is
// allowed (so strings end and every part of the schema is reached). Reports, per generated
// token, the cost of the mask as served (per-state cache + computation on a miss) and of an
// uncached computation, as median / p99 / max / mean, plus the row-masking pass and the
// one-off per-tokenizer preparation. `walk` disables the string fast path (trie walk only), for
// before/after comparisons.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "api/tools/json_schema_grammar.h"
#include "grammar/grammar_processor.h"
#include "tokenizer/tokenizer.h"

using namespace mlxm;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Summary {
  double median, p99, max, mean;
};

Summary summarize(std::vector<double> v) {
  if (v.empty()) return {0, 0, 0, 0};
  std::sort(v.begin(), v.end());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)], v.back(), mean};
}

void print(const char* what, const std::vector<double>& v) {
  const Summary s = summarize(v);
  std::printf("%-40s median %8.4f ms  p99 %8.4f ms  max %8.3f ms  mean %8.4f ms\n", what, s.median,
              s.p99, s.max, s.mean);
}

constexpr const char* kSchema = R"({"type": "object", "properties": {
  "id": {"type": "integer", "minimum": 0},
  "title": {"type": "string", "maxLength": 120},
  "summary": {"type": "string"},
  "status": {"enum": ["open", "closed", "pending review"]},
  "author": {"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 60},
      "email": {"type": "string"},
      "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "email"]},
  "tags": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 6},
  "scores": {"type": "array", "items": {"type": "number"}, "maxItems": 5},
  "lines": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {
      "sku": {"type": "string", "minLength": 3, "maxLength": 12},
      "qty": {"type": "integer"},
      "note": {"type": "string"}},
    "required": ["sku", "qty", "note"]}},
  "done": {"type": "boolean"}},
  "required": ["id", "title", "summary", "status", "author", "tags", "scores", "lines", "done"]})";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: mask_bench <tokenizer dir> [n_tokens] [walk]\n");
    return 2;
  }
  const int n_tokens = argc > 2 ? std::atoi(argv[2]) : 2000;
  const bool walk_only = argc > 3 && std::strcmp(argv[3], "walk") == 0;
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
  auto g = api::json_schema_grammar(nlohmann::ordered_json::parse(kSchema));
  if (!g.ok()) return 1;
  auto t2 = Clock::now();
  grammar::CompiledGrammar cg(*g, trie, {});
  auto t3 = Clock::now();
  cg.set_string_fast_path(!walk_only);
  grammar::CompiledGrammar cold_cg(*g, trie, {});
  cold_cg.set_string_fast_path(!walk_only);
  std::printf("compiled grammar (per request, incl. first-use per-tokenizer tables): %.1f ms; "
              "string fast path %s\n", ms(t2, t3), walk_only ? "off" : "on");

  std::vector<bool> has_quote(static_cast<size_t>(trie->vocab_size()));
  for (int32_t id = 0; id < trie->vocab_size(); ++id) {
    has_quote[static_cast<size_t>(id)] = trie->token_bytes(id).find('"') != std::string::npos;
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> coin(0, 1);
  std::vector<double> served, cold, apply, processed;
  std::vector<float> row(static_cast<size_t>(trie->vocab_size()));
  int produced = 0, docs = 0, complete = 0;
  auto proc_cg = std::make_shared<grammar::CompiledGrammar>(*g, trie, std::vector<int32_t>{});
  proc_cg->set_string_fast_path(!walk_only);
  while (produced < n_tokens) {
    grammar::Matcher m(*g);
    grammar::GrammarProcessor proc(proc_cg);
    ++docs;
    for (int step = 0; step < 1500 && produced < n_tokens; ++step) {
      if (m.accepting()) {
        ++complete;
        break;
      }
      auto a = Clock::now();
      const grammar::TokenMask& mask = cg.mask(m);
      auto b = Clock::now();
      served.push_back(ms(a, b));
      grammar::TokenMask fresh;
      auto c = Clock::now();
      cold_cg.compute_mask(m, &fresh);
      cold.push_back(ms(c, Clock::now()));
      if (fresh != mask) {
        std::fprintf(stderr, "cached and fresh masks differ at token %d\n", produced);
        return 1;
      }
      // What the engine loop calls per sequence and step: mask (cached) + the row pass.
      std::fill(row.begin(), row.end(), 0.0f);
      auto d = Clock::now();
      proc.process(row);
      processed.push_back(ms(d, Clock::now()));
      std::fill(row.begin(), row.end(), 0.0f);
      auto e = Clock::now();
      for (size_t i = 0; i < row.size(); ++i) {
        if (!((mask[i >> 6] >> (i & 63)) & 1)) row[i] = -1e30f;
      }
      apply.push_back(ms(e, Clock::now()));
      std::vector<int32_t> allowed, quoted;
      for (int32_t id = 0; id < trie->vocab_size(); ++id) {
        if ((mask[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1) {
          allowed.push_back(id);
          if (has_quote[static_cast<size_t>(id)]) quoted.push_back(id);
        }
      }
      if (allowed.empty()) break;
      const std::vector<int32_t>& pool = !quoted.empty() && coin(rng) < 0.15 ? quoted : allowed;
      const int32_t t = pool[rng() % pool.size()];
      proc.accept(t);
      if (!m.advance(trie->token_bytes(t))) {
        std::fprintf(stderr, "a masked-in token was rejected\n");
        return 1;
      }
      m.compact();
      ++produced;
    }
  }
  std::printf("%d tokens over %d documents (%d complete); cache hits %zu / %zu\n", produced, docs,
              complete, cg.cache_hits(), cg.cache_hits() + cg.cache_misses());
  print("mask as served (cache, miss computes)", served);
  print("mask uncached (every step computes)", cold);
  print("naive row masking pass (128k logits)", apply);
  print("GrammarProcessor::process (mask+row)", processed);
  return 0;
}
