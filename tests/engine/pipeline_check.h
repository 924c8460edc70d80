// Engine::submit / collect (pipelined steps) against the synchronous calls on the same engine:
// shared by the CPU engine's test (the engine.h default) and the CUDA engine's (its own
// pipeline). The same steps are run twice on the same KV slots (the K/V are rewritten with the
// same values), so the ids must be equal, not close.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "engine/row_sampling.h"

namespace mlxm::engine::pipeline_check {

// The llama3_q4_g32 golden fixture on `device`: 16 KV blocks of 16 tokens (room for both
// sequences), one CPU thread; null (with a test failure) when it does not load.
inline std::unique_ptr<Engine> load_fixture(Device device) {
  EngineOptions o;
  o.device = device;
  o.kv_dtype = DType::kF16;
  o.block_size = 16;
  o.n_kv_blocks = 16;
  o.n_threads = 1;
  auto e = Engine::load(std::string(MLXM_SOURCE_DIR) + "/tests/engine/golden/llama3_q4_g32", o);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? std::move(e).value() : nullptr;
}

// Two sequences: a 13-token and a 6-token prompt in one prefill step, then decode steps.
struct TwoSeqs {
  std::vector<int32_t> tab_a = {3, 0, 7}, tab_b = {5, 1, 6};
  int32_t n_a = 13, n_b = 6;  // context after the prefill

  Batch prefill(int vocab) const {
    Batch b;
    for (int32_t i = 0; i < n_a; ++i) {
      b.tokens.push_back((i * 37 + 11) % vocab);
      b.positions.push_back(i);
      b.seq_ids.push_back(0);
    }
    for (int32_t i = 0; i < n_b; ++i) {
      b.tokens.push_back((i * 91 + 5) % vocab);
      b.positions.push_back(i);
      b.seq_ids.push_back(1);
    }
    b.seqs = {BatchSeq{tab_a, n_a}, BatchSeq{tab_b, n_b}};
    b.logit_rows = {n_a - 1, n_a + n_b - 1};
    return b;
  }
  // Decode step `step` (1-based) with a's and b's tokens; b first when `swap`.
  Batch decode(int step, int32_t tok_a, int32_t tok_b, bool swap) const {
    Batch b;
    const int32_t pa = n_a + step - 1, pb = n_b + step - 1;
    BatchSeq sa{tab_a, pa + 1}, sb{tab_b, pb + 1};
    if (swap) {
      b.tokens = {tok_b, tok_a};
      b.positions = {pb, pa};
      b.seqs = {sb, sa};
    } else {
      b.tokens = {tok_a, tok_b};
      b.positions = {pa, pb};
      b.seqs = {sa, sb};
    }
    b.seq_ids = {0, 1};
    b.logit_rows = {0, 1};
    return b;
  }
};

// Row specs for step `step`: greedy, or sampled at T 0.9 / top-k 40 with a per-step uniform.
inline std::vector<RowSampling> specs(bool sampled, int step) {
  std::vector<RowSampling> rows(2);
  if (!sampled) return rows;
  for (size_t r = 0; r < rows.size(); ++r) {
    rows[r].temperature = 0.9f;
    rows[r].top_k = 40;
    rows[r].u = 0.37 + 0.05 * step + 0.2 * static_cast<double>(r);
  }
  return rows;
}

constexpr int kSteps = 6;
// Steps whose batch lists b first, and the step whose a-token comes from the host.
inline bool swapped(int step) { return step == 3 || step == 4; }
constexpr int kHostTokenStep = 5;

// The tokens (a, b) of the prefill and of kSteps decode steps, one synchronous call per step.
inline void reference(Engine& e, bool sampled, std::vector<std::pair<int32_t, int32_t>>* out) {
  const TwoSeqs s;
  std::vector<int32_t> ids;
  std::vector<float> full;
  Status st = e.forward_sample(s.prefill(e.config().vocab_size), specs(sampled, 0), &ids, &full);
  ASSERT_TRUE(st.ok()) << st.to_string();
  out->assign(1, {ids[0], ids[1]});
  for (int step = 1; step <= kSteps; ++step) {
    const auto [a, b] = out->back();
    const bool sw = swapped(step);
    st = e.forward_sample(s.decode(step, a, b, sw), specs(sampled, step), &ids, &full);
    ASSERT_TRUE(st.ok()) << st.to_string();
    out->push_back(sw ? std::pair{ids[1], ids[0]} : std::pair{ids[0], ids[1]});
  }
}

// The same steps pipelined: step k submitted before step k - 1 is collected, its tokens taken
// from step k - 1 on the engine (previous_row_token), except step 1 (after a synchronous
// prefill) and a's token at kHostTokenStep (given by the host from the reference).
inline void check_matches_sync(Engine& e, bool sampled) {
  std::vector<std::pair<int32_t, int32_t>> ref;
  ASSERT_NO_FATAL_FAILURE(reference(e, sampled, &ref));
  for (const auto& [a, b] : ref) ASSERT_TRUE(a >= 0 && b >= 0);
  const TwoSeqs s;
  std::vector<int32_t> ids;
  std::vector<float> full;
  Status st = e.forward_sample(s.prefill(e.config().vocab_size), specs(sampled, 0), &ids, &full);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(ids, (std::vector<int32_t>{ref[0].first, ref[0].second}));
  for (int step = 1; step <= kSteps + 1; ++step) {
    if (step <= kSteps) {
      int32_t ta = ref[static_cast<size_t>(step) - 1].first;
      int32_t tb = ref[static_cast<size_t>(step) - 1].second;
      if (step > 1) {
        // Rows of step - 1: a was row 1 when that step was swapped.
        const bool prev_sw = swapped(step - 1);
        if (step != kHostTokenStep) ta = previous_row_token(prev_sw ? 1 : 0);
        tb = previous_row_token(prev_sw ? 0 : 1);
      }
      st = e.submit(s.decode(step, ta, tb, swapped(step)), specs(sampled, step));
      ASSERT_TRUE(st.ok()) << "submit of step " << step << ": " << st.to_string();
    }
    if (step == 1) continue;
    st = e.collect(&ids);
    ASSERT_TRUE(st.ok()) << "collect of step " << step - 1 << ": " << st.to_string();
    ASSERT_EQ(ids.size(), 2u);
    const bool sw = swapped(step - 1);
    const std::pair<int32_t, int32_t> got = sw ? std::pair{ids[1], ids[0]}
                                               : std::pair{ids[0], ids[1]};
    EXPECT_EQ(got, ref[static_cast<size_t>(step) - 1]) << "step " << step - 1;
  }
}

// A spec's pending token (RowSampling::pending_row) takes its penalties where it was sampled:
// step 2 after step 1, its rows' pending tokens being step 1's. The specs bias each sequence's
// step-1 token (known from a synchronous run) by +30 and give a presence penalty of 60, so a
// pending token that is not added would win. Pipelined ids equal the synchronous run's whose
// specs took the tokens on the host (with_token()).
inline void check_pending_penalties(Engine& e, bool sampled) {
  const TwoSeqs s;
  const int vocab = e.config().vocab_size;
  std::vector<int32_t> ids;
  std::vector<float> full;
  Status st = e.forward_sample(s.prefill(vocab), specs(sampled, 0), &ids, &full);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const int32_t a0 = ids[0], b0 = ids[1];
  st = e.forward_sample(s.decode(1, a0, b0, false), specs(sampled, 1), &ids, &full);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const int32_t a1 = ids[0], b1 = ids[1];
  std::vector<RowSampling> step2 = specs(sampled, 2);
  for (size_t r = 0; r < 2; ++r) {
    const int32_t t = r == 0 ? a1 : b1;
    step2[r].adjust = {LogitAdjust{t, 30.0f, 1.0f, 0.0f, 0}};
    SamplingParams p;
    p.presence_penalty = 60.0f;
    mark_pending(p, static_cast<int32_t>(r), &step2[r]);
  }
  std::vector<RowSampling> resolved = {with_token(step2[0], a1), with_token(step2[1], b1)};
  st = e.forward_sample(s.decode(2, a1, b1, false), resolved, &ids, &full);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const std::vector<int32_t> want = ids;
  EXPECT_NE(want[0], a1) << "the penalty should keep the step-1 token out";
  EXPECT_NE(want[1], b1);
  // The same two steps pipelined: step 2's tokens and pending tokens are step 1's rows.
  ASSERT_TRUE(e.submit(s.decode(1, a0, b0, false), specs(sampled, 1)).ok());
  st = e.submit(s.decode(2, previous_row_token(0), previous_row_token(1), false), step2);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE(e.collect(&ids).ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{a1, b1}));
  ASSERT_TRUE(e.collect(&ids).ok());
  EXPECT_EQ(ids, want) << "pending tokens penalised where they were sampled";
  // A pending row must name a row of the step before; forward_sample() takes none.
  std::vector<RowSampling> bad = step2;
  bad[1].pending_row = 2;
  ASSERT_TRUE(e.submit(s.decode(1, a0, b0, false), specs(sampled, 1)).ok());
  EXPECT_EQ(e.submit(s.decode(2, previous_row_token(0), previous_row_token(1), false), bad)
                .code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(e.collect(&ids).ok());
  EXPECT_EQ(e.forward_sample(s.decode(2, a1, b1, false), step2, &ids, &full).code(),
            StatusCode::kInvalidArgument);
}

// Misuse is an InvalidArgument naming the problem, and the engine still works after it.
inline void check_rejects_misuse(Engine& e) {
  const TwoSeqs s;
  const int vocab = e.config().vocab_size;
  std::vector<int32_t> ids;
  std::vector<float> full;
  EXPECT_EQ(e.collect(&ids).code(), StatusCode::kInvalidArgument);  // nothing submitted
  Status st = e.forward_sample(s.prefill(vocab), specs(false, 0), &ids, &full);
  ASSERT_TRUE(st.ok()) << st.to_string();
  const int32_t a = ids[0], b = ids[1];
  // No submitted step before: a previous_row_token names nothing.
  EXPECT_EQ(e.submit(s.decode(1, previous_row_token(0), b, false), specs(false, 1)).code(),
            StatusCode::kInvalidArgument);
  std::vector<RowSampling> with_full = specs(false, 1);
  with_full[1].full = true;
  EXPECT_EQ(e.submit(s.decode(1, a, b, false), with_full).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.submit(s.decode(1, a, b, false), {RowSampling{}}).code(),
            StatusCode::kInvalidArgument);  // one spec for two rows
  ASSERT_TRUE(e.submit(s.decode(1, a, b, false), specs(false, 1)).ok());
  // Row 2 of a step with 2 rows.
  EXPECT_EQ(e.submit(s.decode(2, previous_row_token(2), previous_row_token(1), false),
                     specs(false, 2)).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(e.submit(s.decode(2, previous_row_token(0), previous_row_token(1), false),
                       specs(false, 2)).ok());
  // A third uncollected step.
  EXPECT_EQ(e.submit(s.decode(3, previous_row_token(0), previous_row_token(1), false),
                     specs(false, 3)).code(),
            StatusCode::kInvalidArgument);
  if (e.pipelined()) {  // a synchronous step while steps are in flight
    EXPECT_EQ(e.forward_sample(s.decode(3, a, b, false), specs(false, 3), &ids, &full).code(),
              StatusCode::kInvalidArgument);
  }
  st = e.collect(&ids);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(ids.size(), 2u);
  st = e.collect(&ids);
  ASSERT_TRUE(st.ok()) << st.to_string();
  for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < vocab) << id;
  EXPECT_EQ(e.collect(&ids).code(), StatusCode::kInvalidArgument);
  // Still usable: a synchronous step, then a pipelined one fed from the host.
  st = e.forward_sample(s.decode(3, a, b, false), specs(false, 3), &ids, &full);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE(e.submit(s.decode(4, ids[0], ids[1], false), specs(false, 4)).ok());
  st = e.collect(&ids);
  ASSERT_TRUE(st.ok()) << st.to_string();
}

}  // namespace mlxm::engine::pipeline_check
