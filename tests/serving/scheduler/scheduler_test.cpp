#include "serving/scheduler/scheduler.h"

#include "serving/scheduler/live_limits.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>

namespace mlxm::serving {
namespace {

// A fake engine: it "stores" each token id in its KV slot and, for a sequence that wants
// logits, checks that every earlier position of the sequence is present in the slots its
// block table names (so block tables, prefix hits and preemption are all verified), then
// returns a deterministic next token computed from the whole sequence.
class FakeEngine {
 public:
  FakeEngine(int64_t n_blocks, int block_size)
      : block_size_(block_size), slots_(static_cast<size_t>(n_blocks * block_size), -1) {}

  // Runs one step; returns the sampled token for each sequence that wanted logits.
  std::map<SeqId, int32_t> run(const SchedulerOutput& out,
                               const std::map<SeqId, std::vector<int32_t>>& full_tokens) {
    std::map<SeqId, int32_t> sampled;
    for (const ScheduledSeq& s : out.seqs) {
      for (size_t i = 0; i < s.tokens.size(); ++i) {
        const int32_t pos = s.start + static_cast<int32_t>(i);
        slots_[slot(s.block_table, pos)] = s.tokens[i];
      }
      const auto& truth = full_tokens.at(s.id);
      const int32_t n_ctx = s.start + static_cast<int32_t>(s.tokens.size());
      uint64_t h = 1469598103934665603ull;
      for (int32_t pos = 0; pos < n_ctx; ++pos) {
        const int32_t stored = slots_[slot(s.block_table, pos)];
        EXPECT_EQ(stored, truth[static_cast<size_t>(pos)]) << "seq " << s.id << " pos " << pos;
        h = (h ^ static_cast<uint64_t>(stored)) * 1099511628211ull;
      }
      if (s.wants_logits) sampled[s.id] = static_cast<int32_t>(h % 1000);
    }
    return sampled;
  }

 private:
  size_t slot(const std::vector<BlockId>& table, int32_t pos) const {
    EXPECT_LT(static_cast<size_t>(pos / block_size_), table.size());
    return static_cast<size_t>(table[static_cast<size_t>(pos / block_size_)]) * block_size_ +
           static_cast<size_t>(pos % block_size_);
  }
  int block_size_;
  std::vector<int32_t> slots_;
};

// Drives a scheduler to completion, recording tokens, steps and what each step contained.
struct Driver {
  Driver(SchedulerConfig cfg, int64_t n_blocks, int block_size)
      : sched(cfg, std::make_unique<BlockPool>(n_blocks, block_size)),
        engine(n_blocks, block_size) {}

  void add(SeqId id, std::vector<int32_t> prompt, int32_t max_new, int priority = 0) {
    ASSERT_TRUE(sched.add({id, prompt, max_new, priority}).ok());
    tokens[id] = std::move(prompt);
  }

  SchedulerOutput step() {
    SchedulerOutput out = sched.schedule();
    auto sampled = engine.run(out, tokens);
    sched.step_done(out);
    for (auto [id, tok] : sampled) {
      tokens[id].push_back(tok);
      generated[id].push_back(tok);
      if (sched.append_token(id, tok)) {
        sched.finish(id);
        finished.push_back(id);
      }
    }
    ++n_steps;
    return out;
  }

  void run_all(int max_steps = 10000) {
    while (sched.has_work() && n_steps < max_steps) step();
    ASSERT_FALSE(sched.has_work()) << "did not finish";
  }

  Scheduler sched;
  FakeEngine engine;
  std::map<SeqId, std::vector<int32_t>> tokens;
  std::map<SeqId, std::vector<int32_t>> generated;
  std::vector<SeqId> finished;
  int n_steps = 0;
};

// Drives a scheduler as the engine loop's pipelined steps do: step N + 1 is scheduled and run
// before step N's tokens reach the scheduler. The engine side resolves a kPendingToken from the
// step before (as Engine::submit does with previous_row_token) and knows every token at once;
// the scheduler learns them one step late through resolve_pending().
struct PipelinedDriver {
  PipelinedDriver(SchedulerConfig cfg, int64_t n_blocks, int block_size)
      : sched(cfg, std::make_unique<BlockPool>(n_blocks, block_size)),
        engine(n_blocks, block_size) {}

  void add(SeqId id, std::vector<int32_t> prompt, int32_t max_new) {
    ASSERT_TRUE(sched.add({id, prompt, max_new, 0}).ok());
    truth[id] = std::move(prompt);
    max_new_tokens[id] = max_new;
  }

  void step() {
    SchedulerOutput out = sched.schedule();
    ++n_steps;
    if (out.empty()) {
      collect();
      return;
    }
    SchedulerOutput run = out;
    for (ScheduledSeq& s : run.seqs) {
      for (int32_t& t : s.tokens) {
        if (t != kPendingToken) continue;
        ASSERT_TRUE(in_flight.count(s.id)) << "a pending token from no submitted step";
        t = in_flight.at(s.id).first;
      }
    }
    auto sampled = engine.run(run, truth);
    sched.step_done(out);
    std::map<SeqId, std::pair<int32_t, bool>> next;
    for (auto [id, tok] : sampled) {
      truth[id].push_back(tok);
      const bool pending = sched.n_generated(id) + 1 < max_new_tokens[id];
      if (pending) sched.append_pending(id);
      next[id] = {tok, pending};
    }
    collect();
    in_flight = std::move(next);
    ++n_overlapped;
  }

  void collect() {
    for (auto [id, v] : in_flight) {
      const auto [tok, pending] = v;
      generated[id].push_back(tok);
      if (pending) {
        EXPECT_TRUE(sched.resolve_pending(id, tok).ok());
      } else {
        EXPECT_TRUE(sched.append_token(id, tok)) << "a token without a pending one is the last";
        sched.finish(id);
        finished.push_back(id);
      }
    }
    in_flight.clear();
  }

  void run_all(int max_steps = 10000) {
    while ((sched.has_work() || !in_flight.empty()) && n_steps < max_steps) step();
    ASSERT_FALSE(sched.has_work()) << "did not finish";
  }

  Scheduler sched;
  FakeEngine engine;
  std::map<SeqId, std::vector<int32_t>> truth;  // every token, as the engine knows them
  std::map<SeqId, int32_t> max_new_tokens;
  std::map<SeqId, std::pair<int32_t, bool>> in_flight;  // the last step's (token, pending)
  std::map<SeqId, std::vector<int32_t>> generated;
  std::vector<SeqId> finished;
  int n_steps = 0;
  int n_overlapped = 0;
};

std::vector<int32_t> iota_prompt(int n, int start) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(SchedulerTest, ChunkedPrefillThenDecode) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 16;
  Driver d(cfg, 64, 4);
  d.add(1, iota_prompt(40, 1), 5);
  auto s1 = d.step();
  ASSERT_EQ(s1.seqs.size(), 1u);
  EXPECT_EQ(s1.seqs[0].tokens.size(), 16u);
  EXPECT_FALSE(s1.seqs[0].wants_logits);
  d.step();
  auto s3 = d.step();  // 8 remaining prompt tokens: completes the prefill and samples
  EXPECT_EQ(s3.seqs[0].tokens.size(), 8u);
  EXPECT_TRUE(s3.seqs[0].wants_logits);
  d.run_all();
  EXPECT_EQ(d.generated[1].size(), 5u);
  EXPECT_EQ(d.sched.stats().blocks_used, 0);
}

TEST(SchedulerTest, DecodesGoBeforeNewPrefill) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 8;
  Driver d(cfg, 64, 4);
  d.add(1, iota_prompt(4, 1), 10);
  d.step();  // prefill of 1
  d.add(2, iota_prompt(30, 100), 3);
  auto s = d.step();
  ASSERT_EQ(s.seqs.size(), 2u);
  EXPECT_EQ(s.seqs[0].id, 1u);  // decode first
  EXPECT_EQ(s.seqs[0].tokens.size(), 1u);
  EXPECT_EQ(s.seqs[1].tokens.size(), 7u);  // the rest of the budget
  EXPECT_EQ(s.n_tokens, 8);
}

TEST(SchedulerTest, MaxNumSeqsLimitsRunning) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 2;
  Driver d(cfg, 64, 4);
  for (SeqId id = 1; id <= 5; ++id) d.add(id, iota_prompt(3, static_cast<int>(id) * 10), 4);
  auto s = d.step();
  EXPECT_EQ(s.seqs.size(), 2u);
  EXPECT_EQ(d.sched.stats().n_waiting, 3);
  d.run_all();
  EXPECT_EQ(d.finished.size(), 5u);
}

// The live max_batch_size (live_limits.h) lowers the configured limit from the next step on:
// running sequences finish, new ones wait; it never raises the configured one.
TEST(SchedulerTest, LiveBatchLimitLowersButNeverRaisesMaxNumSeqs) {
  struct ResetLive {
    ~ResetLive() { live_limits().max_batch_size.store(0); }
  } reset;
  SchedulerConfig cfg;
  cfg.max_num_seqs = 3;
  Driver d(cfg, 64, 4);
  for (SeqId id = 1; id <= 2; ++id) d.add(id, iota_prompt(3, static_cast<int>(id) * 10), 6);
  EXPECT_EQ(d.step().seqs.size(), 2u);
  live_limits().max_batch_size.store(1);
  for (SeqId id = 3; id <= 5; ++id) d.add(id, iota_prompt(3, static_cast<int>(id) * 10), 6);
  auto s = d.step();
  EXPECT_EQ(s.seqs.size(), 2u);  // the two running go on, nobody new is admitted
  EXPECT_EQ(d.sched.stats().n_waiting, 3);
  while (d.sched.stats().n_running > 1 || d.sched.stats().n_waiting == 3) d.step();
  EXPECT_EQ(d.sched.stats().n_running, 1);
  EXPECT_EQ(d.sched.stats().n_waiting, 2);
  live_limits().max_batch_size.store(100);  // above the configured 3: 3 apply
  d.step();
  EXPECT_EQ(d.sched.stats().n_running, 3);
  d.run_all();
  EXPECT_EQ(d.finished.size(), 5u);
}

TEST(SchedulerTest, BatchingGivesSameTokensAsAlone) {
  // Deterministic fake sampling: each sequence's output must not depend on its neighbours.
  std::map<SeqId, std::vector<int32_t>> alone;
  for (SeqId id = 1; id <= 6; ++id) {
    Driver d(SchedulerConfig{}, 64, 4);
    d.add(id, iota_prompt(5 + static_cast<int>(id) * 3, static_cast<int>(id)), 7);
    d.run_all();
    alone[id] = d.generated[id];
  }
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 13;
  Driver d(cfg, 64, 4);
  for (SeqId id = 1; id <= 6; ++id)
    d.add(id, iota_prompt(5 + static_cast<int>(id) * 3, static_cast<int>(id)), 7);
  d.run_all();
  for (SeqId id = 1; id <= 6; ++id) EXPECT_EQ(d.generated[id], alone[id]) << id;
}

TEST(SchedulerTest, PrefixCacheReusesSharedPrompt) {
  Driver d(SchedulerConfig{}, 64, 4);
  auto prompt = iota_prompt(18, 1);
  d.add(1, prompt, 2);
  d.run_all();
  d.add(2, prompt, 2);
  auto s = d.step();
  ASSERT_EQ(s.seqs.size(), 1u);
  EXPECT_EQ(s.seqs[0].start, 16);  // four cached blocks reused
  EXPECT_EQ(s.seqs[0].tokens.size(), 2u);
  d.run_all();
  EXPECT_EQ(d.generated[2], d.generated[1]);
  EXPECT_GE(d.sched.stats().prefix_hits, 4u);
}

TEST(SchedulerTest, FullyCachedPromptStillComputesOneToken) {
  Driver d(SchedulerConfig{}, 64, 4);
  auto prompt = iota_prompt(8, 1);
  d.add(1, prompt, 1);
  d.run_all();
  d.add(2, prompt, 1);
  auto s = d.step();
  EXPECT_EQ(s.seqs[0].start, 4);
  EXPECT_TRUE(s.seqs[0].wants_logits);
}

TEST(SchedulerTest, PreemptionByRecomputeKeepsOutputs) {
  std::map<SeqId, std::vector<int32_t>> alone;
  for (SeqId id = 1; id <= 4; ++id) {
    Driver d(SchedulerConfig{}, 64, 4);
    d.add(id, iota_prompt(6, static_cast<int>(id) * 7), 20);
    d.run_all();
    alone[id] = d.generated[id];
  }
  // 12 blocks of 4 tokens: four sequences growing to 26 tokens each cannot all fit.
  SchedulerConfig cfg;
  cfg.enable_prefix_caching = false;
  Driver d(cfg, 12, 4);
  for (SeqId id = 1; id <= 4; ++id) d.add(id, iota_prompt(6, static_cast<int>(id) * 7), 20);
  d.run_all();
  EXPECT_GT(d.sched.stats().n_preemptions, 0u);
  for (SeqId id = 1; id <= 4; ++id) EXPECT_EQ(d.generated[id], alone[id]) << id;
  EXPECT_EQ(d.sched.stats().blocks_used, 0);
}

TEST(SchedulerTest, RejectsWhatCanNeverRun) {
  SchedulerConfig cfg;
  cfg.max_model_len = 32;
  cfg.max_waiting = 2;
  Scheduler s(cfg, std::make_unique<BlockPool>(4, 4));
  EXPECT_EQ(s.add({1, iota_prompt(30, 0), 8, 0}).code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.add({2, iota_prompt(10, 0), 10, 0}).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.add({3, {}, 4, 0}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(s.add({4, iota_prompt(4, 0), 4, 0}).ok());
  EXPECT_EQ(s.add({4, iota_prompt(4, 0), 4, 0}).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(s.add({5, iota_prompt(4, 0), 4, 0}).ok());
  auto full = s.add({6, iota_prompt(4, 0), 4, 0});
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("waiting queue"), std::string::npos);
}

TEST(SchedulerTest, PriorityOrdersAdmission) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 1;
  Driver d(cfg, 64, 4);
  d.add(1, iota_prompt(3, 0), 1, /*priority=*/5);
  d.add(2, iota_prompt(3, 0), 1, /*priority=*/0);
  auto s = d.step();
  ASSERT_EQ(s.seqs.size(), 1u);
  EXPECT_EQ(s.seqs[0].id, 2u);
}

TEST(SchedulerTest, AgingLetsOldLowPriorityRequestsIn) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 1;
  cfg.aging_ms = 1e-6;  // every instant waited is worth many priority classes
  Scheduler s(cfg, std::make_unique<BlockPool>(16, 4));
  ASSERT_TRUE(s.add({1, iota_prompt(3, 0), 1, 5}).ok());
  // A later, nominally more urgent request: the older one has aged past it.
  const TimePoint t0 = now();
  while (ms_since(t0) < 0.01) {
  }
  ASSERT_TRUE(s.add({2, iota_prompt(3, 0), 1, 0}).ok());
  auto out = s.schedule();
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].id, 1u);
}

TEST(SchedulerTest, FinishFreesBlocksAtOnce) {
  Driver d(SchedulerConfig{}, 64, 4);
  d.add(1, iota_prompt(21, 0), 100);
  d.step();
  EXPECT_EQ(d.sched.stats().blocks_used, 6);
  d.sched.finish(1);
  EXPECT_EQ(d.sched.stats().blocks_used, 0);
  EXPECT_FALSE(d.sched.has_work());
  d.sched.finish(1);  // unknown ids are ignored
}

TEST(SchedulerTest, RandomWorkloadsKeepInvariants) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    SchedulerConfig cfg;
    cfg.max_num_seqs = 1 + static_cast<int>(rng() % 6);
    cfg.max_num_batched_tokens = 4 + static_cast<int>(rng() % 40);
    Driver d(cfg, 24, 4);
    const int n = 3 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      // Shared prefixes sometimes, to exercise the prefix cache under preemption.
      auto prompt = iota_prompt(1 + static_cast<int>(rng() % 30), (rng() % 2) ? 0 : i * 50);
      d.add(static_cast<SeqId>(i + 1), prompt, 1 + static_cast<int32_t>(rng() % 30));
    }
    d.run_all();
    EXPECT_EQ(static_cast<int>(d.finished.size()), n);
    EXPECT_EQ(d.sched.stats().blocks_used, 0);
  }
}

// Pipelined steps give every sequence the tokens of one-at-a-time steps, through chunked
// prefill, the prefix cache and preemption (the fake engine checks every KV slot it reads).
TEST(SchedulerTest, PipelinedStepsKeepOutputsAndBlocks) {
  std::mt19937 rng(11);
  uint64_t preemptions = 0, hits = 0;
  for (int trial = 0; trial < 20; ++trial) {
    SchedulerConfig cfg;
    cfg.max_num_seqs = 1 + static_cast<int>(rng() % 6);
    cfg.max_num_batched_tokens = 4 + static_cast<int>(rng() % 40);
    Driver plain(cfg, 24, 4);
    PipelinedDriver piped(cfg, 24, 4);
    const int n = 3 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      auto prompt = iota_prompt(1 + static_cast<int>(rng() % 30), (rng() % 2) ? 0 : i * 50);
      const int32_t max_new = 1 + static_cast<int32_t>(rng() % 30);
      plain.add(static_cast<SeqId>(i + 1), prompt, max_new);
      piped.add(static_cast<SeqId>(i + 1), prompt, max_new);
    }
    plain.run_all();
    piped.run_all();
    EXPECT_EQ(static_cast<int>(piped.finished.size()), n);
    for (int i = 1; i <= n; ++i) {
      EXPECT_EQ(piped.generated[static_cast<SeqId>(i)], plain.generated[static_cast<SeqId>(i)])
          << "trial " << trial << " seq " << i;
    }
    EXPECT_EQ(piped.sched.stats().blocks_used, 0);
    preemptions += piped.sched.stats().n_preemptions;
    hits += piped.sched.stats().prefix_hits;
  }
  EXPECT_GT(preemptions, 0u) << "the workloads should preempt";
  EXPECT_GT(hits, 0u) << "the workloads should hit the prefix cache";
}

TEST(SchedulerTest, PendingTokenBlocksEnterThePrefixCacheOnceResolved) {
  Scheduler s(SchedulerConfig{}, std::make_unique<BlockPool>(16, 4));
  ASSERT_TRUE(s.add({1, iota_prompt(3, 1), 4, 0}).ok());
  SchedulerOutput out = s.schedule();  // positions 0-2
  s.step_done(out);
  s.append_pending(1);                 // position 3: fills block 0 once computed
  out = s.schedule();
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].tokens, std::vector<int32_t>{kPendingToken});
  EXPECT_TRUE(out.seqs[0].wants_logits);
  s.step_done(out);
  EXPECT_EQ(s.stats().blocks_cached, 0) << "block 0 holds a token not known yet";
  ASSERT_TRUE(s.resolve_pending(1, 9).ok());
  EXPECT_EQ(s.stats().blocks_cached, 1);
  EXPECT_EQ(s.n_generated(1), 1);
  EXPECT_EQ(s.resolve_pending(1, 9).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(s.resolve_pending(77, 9).ok()) << "unknown ids are ignored";
  // A request with the same four tokens reuses the block.
  s.finish(1);
  ASSERT_TRUE(s.add({2, {1, 2, 3, 9, 5}, 1, 0}).ok());
  out = s.schedule();
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].start, 4);
}

TEST(SchedulerTest, PreemptedSequenceWaitsForItsPendingToken) {
  SchedulerConfig cfg;
  cfg.enable_prefix_caching = false;
  Scheduler s(cfg, std::make_unique<BlockPool>(3, 4));
  ASSERT_TRUE(s.add({1, iota_prompt(3, 1), 4, 0}).ok());
  ASSERT_TRUE(s.add({2, iota_prompt(3, 20), 4, 0}).ok());
  SchedulerOutput out = s.schedule();  // one block each
  ASSERT_EQ(out.seqs.size(), 2u);
  s.step_done(out);
  s.append_pending(1);
  s.append_pending(2);
  out = s.schedule();  // both fill their block
  ASSERT_EQ(out.seqs.size(), 2u);
  s.step_done(out);
  ASSERT_TRUE(s.resolve_pending(1, 7).ok());
  ASSERT_TRUE(s.resolve_pending(2, 7).ok());
  s.append_pending(1);
  s.append_pending(2);
  // Position 4 needs a second block each, and one is free: sequence 2 is preempted while its
  // token is pending, and is not readmitted before that token is known.
  out = s.schedule();
  ASSERT_EQ(out.preempted, std::vector<SeqId>{2});
  ASSERT_EQ(out.seqs.size(), 1u);
  s.step_done(out);
  s.finish(1);
  EXPECT_TRUE(s.schedule().empty()) << "admitted with an unknown token";
  ASSERT_TRUE(s.resolve_pending(2, 8).ok());
  out = s.schedule();  // its first block, cached once 7 was known, comes back as a hit
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].start, 4);
  EXPECT_EQ(out.seqs[0].tokens, std::vector<int32_t>{8});
}

}  // namespace
}  // namespace mlxm::serving
