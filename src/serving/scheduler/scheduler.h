// Continuous-batching scheduler (vLLM v1 style): no prefill/decode modes. Every step each
// running sequence gets min(tokens it still has to compute, remaining budget) tokens, running
// sequences first (so decodes go before new prefills), then waiting ones are admitted in
// priority order while budget, sequence slots and KV blocks allow. Long prompts are prefilled in
// chunks across steps. When KV blocks run out, the least urgent running sequence is preempted:
// its blocks are freed and it is recomputed later (its tokens so far become its prompt).
//
// Pure data: it neither runs the model nor samples. The engine loop calls schedule(), runs the
// step, then step_done() and append_token() / finish().
//
// Pipelined steps (the engine loop submits step N + 1 before it knows step N's tokens): after
// step N is submitted, append_pending() gives a sequence the token step N will sample, as
// kPendingToken, so that schedule() plans step N + 1 with it (the engine reads the id where
// step N sampled it); resolve_pending() writes the id in once step N is collected. A block
// enters the prefix cache only once all its tokens are known. A sequence preempted while it
// holds a pending token is not readmitted until the token is resolved.
//
// Thread-safety: none; one model's engine thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "serving/kv/block_pool.h"

namespace mlxm::serving {

using SeqId = uint64_t;

// A token sampled by a step that is still running: its id is not known yet (append_pending).
inline constexpr int32_t kPendingToken = -1;

struct SchedulerConfig {
  int max_num_seqs = 8;              // running sequences at most (1 = batching off)
  int max_num_batched_tokens = 512;  // tokens per step, all sequences together
  int max_waiting = 256;             // waiting queue bound: add() fails beyond it
  int max_model_len = 4096;          // prompt + generated tokens per sequence
  double aging_ms = 10000;           // a waiting sequence gains one priority class per aging_ms
  bool enable_prefix_caching = true;
};

struct SeqSpec {
  SeqId id = 0;
  std::vector<int32_t> prompt;  // token ids, non-empty
  int32_t max_new_tokens = 16;
  int priority = 0;             // lower is more urgent
};

// One sequence's share of a step.
struct ScheduledSeq {
  SeqId id = 0;
  int32_t start = 0;                 // position of the first token of this step
  std::vector<int32_t> tokens;       // (n_new) ids at positions [start, start + n_new); the
                                     // last may be kPendingToken
  std::vector<BlockId> block_table;  // blocks covering positions [0, start + n_new)
  bool wants_logits = false;         // the step reaches the end of the known tokens: sample one
};

struct SchedulerOutput {
  std::vector<ScheduledSeq> seqs;
  int32_t n_tokens = 0;
  std::vector<SeqId> preempted;  // sequences that lost their KV this step
  bool empty() const { return seqs.empty(); }
};

struct SchedulerStats {
  int n_running = 0;
  int n_waiting = 0;
  int64_t blocks_used = 0;
  int64_t blocks_total = 0;
  int64_t blocks_cached = 0;
  uint64_t n_preemptions = 0;
  uint64_t prefix_hits = 0;     // full blocks reused
  uint64_t prefix_queries = 0;  // full blocks looked up
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, std::unique_ptr<BlockPool> pool);

  // Queues a sequence. ResourceExhausted when the waiting queue is full (HTTP 503 + Retry-After);
  // InvalidArgument when it can never fit (model length or the whole KV pool); AlreadyExists for
  // a duplicate id.
  Status add(SeqSpec spec);

  // Picks the work of the next step and reserves its KV blocks.
  SchedulerOutput schedule();

  // After the model ran `out`: marks the scheduled tokens as computed and caches full blocks.
  void step_done(const SchedulerOutput& out);

  // Appends a sampled token to a sequence that wanted logits. Returns true when the sequence
  // has now produced max_new_tokens (the caller then finishes it).
  bool append_token(SeqId id, int32_t token);

  // Appends kPendingToken: the token a submitted step samples for `id`, to be computed by the
  // next step before its id is known. Unknown ids are ignored.
  void append_pending(SeqId id);
  // Replaces the oldest pending token of `id` with `token` and caches the blocks that became
  // fully known. Unknown ids (finished meanwhile) are ignored; InvalidArgument when `id` has no
  // pending token.
  Status resolve_pending(SeqId id, int32_t token);

  // Removes a sequence (finished, aborted, errored) and frees its blocks at once. Unknown ids
  // are ignored.
  void finish(SeqId id);

  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  bool contains(SeqId id) const { return seqs_.count(id) != 0; }
  int32_t n_generated(SeqId id) const;
  SchedulerStats stats() const;
  const SchedulerConfig& config() const { return config_; }

 private:
  struct Seq {
    SeqSpec spec;
    TimePoint arrival;
    std::vector<int32_t> tokens;  // prompt + generated
    int32_t n_computed = 0;       // tokens whose KV is stored
    std::vector<BlockId> blocks;
    std::vector<BlockHash> hashes;  // of full blocks, by index
    int32_t n_cached_blocks = 0;    // blocks registered in the prefix cache
    int32_t n_pending = 0;          // kPendingToken entries, always the last ones of tokens
    bool running = false;
  };

  bool reserve(Seq& s, int32_t n_new);  // blocks for positions up to n_computed + n_new
  // Registers the full blocks whose tokens are all computed and known in the prefix cache.
  void cache_full_blocks(Seq& s);
  void preempt(Seq& s);
  bool try_admit(Seq& s, int32_t* budget, SchedulerOutput* out);
  void emit(Seq& s, int32_t n_new, SchedulerOutput* out);
  double effective_priority(const Seq& s, TimePoint t) const;

  SchedulerConfig config_;
  std::unique_ptr<BlockPool> pool_;
  std::map<SeqId, Seq> seqs_;
  std::vector<SeqId> running_;  // admission order
  std::vector<SeqId> waiting_;
  uint64_t n_preemptions_ = 0;
};

}  // namespace mlxm::serving
