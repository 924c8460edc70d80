#include "serving/scheduler/scheduler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "serving/scheduler/live_limits.h"

namespace mlxm::serving {
namespace {

int64_t blocks_for(int64_t n_tokens, int block_size) {
  return (n_tokens + block_size - 1) / block_size;
}

}  // namespace

Scheduler::Scheduler(SchedulerConfig config, std::unique_ptr<BlockPool> pool)
    : config_(config), pool_(std::move(pool)) {
  MLXM_CHECK(config_.max_num_seqs >= 1 && config_.max_num_batched_tokens >= 1);
}

Status Scheduler::add(SeqSpec spec) {
  if (seqs_.count(spec.id)) return {StatusCode::kAlreadyExists, "duplicate sequence id"};
  if (spec.prompt.empty()) return invalid_argument("the prompt has no tokens");
  if (spec.max_new_tokens < 1) return invalid_argument("max_new_tokens must be at least 1");
  const int64_t n_prompt = static_cast<int64_t>(spec.prompt.size());
  const int64_t n_total = n_prompt + spec.max_new_tokens;
  if (n_total > config_.max_model_len) {
    return out_of_range("the prompt has " + std::to_string(n_prompt) + " tokens and " +
                        std::to_string(spec.max_new_tokens) + " more were requested, but the " +
                        "context length is " + std::to_string(config_.max_model_len));
  }
  if (blocks_for(n_total, pool_->block_size()) > pool_->n_blocks()) {
    return resource_exhausted("the request needs " +
                              std::to_string(blocks_for(n_total, pool_->block_size())) +
                              " KV blocks but the cache has only " +
                              std::to_string(pool_->n_blocks()));
  }
  if (static_cast<int>(waiting_.size()) >= config_.max_waiting) {
    return resource_exhausted("the waiting queue is full (" +
                              std::to_string(config_.max_waiting) + " requests)");
  }
  Seq s;
  s.tokens = spec.prompt;
  s.spec = std::move(spec);
  s.arrival = now();
  const SeqId id = s.spec.id;
  seqs_.emplace(id, std::move(s));
  waiting_.push_back(id);
  return ok_status();
}

double Scheduler::effective_priority(const Seq& s, TimePoint t) const {
  const double waited = ms_between(s.arrival, t);
  return s.spec.priority - std::floor(waited / config_.aging_ms);
}

bool Scheduler::reserve(Seq& s, int32_t n_new) {
  const int64_t need = blocks_for(s.n_computed + n_new, pool_->block_size()) -
                       static_cast<int64_t>(s.blocks.size());
  if (need <= 0) return true;
  auto got = pool_->allocate(need);
  if (!got) return false;
  s.blocks.insert(s.blocks.end(), got->begin(), got->end());
  return true;
}

void Scheduler::preempt(Seq& s) {
  pool_->release(s.blocks);
  s.blocks.clear();
  s.n_computed = 0;
  s.n_cached_blocks = 0;
  s.running = false;
  ++n_preemptions_;
}

void Scheduler::emit(Seq& s, int32_t n_new, SchedulerOutput* out) {
  ScheduledSeq ss;
  ss.id = s.spec.id;
  ss.start = s.n_computed;
  ss.tokens.assign(s.tokens.begin() + s.n_computed, s.tokens.begin() + s.n_computed + n_new);
  ss.block_table = s.blocks;
  ss.wants_logits = s.n_computed + n_new == static_cast<int32_t>(s.tokens.size());
  out->n_tokens += n_new;
  out->seqs.push_back(std::move(ss));
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int32_t budget = config_.max_num_batched_tokens;

  // 1. Running sequences, in admission order: decodes and continuing prefill chunks.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Seq& s = seqs_.at(running_[i]);
    const int32_t remaining = static_cast<int32_t>(s.tokens.size()) - s.n_computed;
    const int32_t n_new = std::min(remaining, budget);
    if (n_new <= 0) {
      ++i;
      continue;
    }
    bool scheduled = false;
    while (true) {
      if (reserve(s, n_new)) {
        scheduled = true;
        break;
      }
      // Out of blocks: preempt the least urgent running sequence (the last admitted).
      const SeqId victim_id = running_.back();
      Seq& victim = seqs_.at(victim_id);
      preempt(victim);
      running_.pop_back();
      waiting_.insert(waiting_.begin(), victim_id);
      out.preempted.push_back(victim_id);
      // The victim is never one already scheduled this step: those come before s in running_.
      if (victim_id == s.spec.id) break;
    }
    if (!scheduled) continue;  // s itself was preempted; running_ shrank past it
    emit(s, n_new, &out);
    budget -= n_new;
    ++i;
  }

  // 2. Waiting sequences in priority order (aging), while budget, slots and blocks allow.
  // Nothing is admitted in a step that had to preempt: memory is short.
  if (!out.preempted.empty()) return out;
  const TimePoint t = now();
  std::stable_sort(waiting_.begin(), waiting_.end(), [&](SeqId a, SeqId b) {
    const Seq& sa = seqs_.at(a);
    const Seq& sb = seqs_.at(b);
    const double pa = effective_priority(sa, t), pb = effective_priority(sb, t);
    if (pa != pb) return pa < pb;
    return sa.arrival < sb.arrival;
  });
  // The live batch limit (live_limits.h) only lowers the configured one: running sequences
  // beyond it finish, new ones wait.
  const int max_seqs =
      capped_by_live(config_.max_num_seqs, live_limits().max_batch_size.load());
  while (!waiting_.empty() && budget > 0 && static_cast<int>(running_.size()) < max_seqs) {
    Seq& s = seqs_.at(waiting_.front());
    if (!try_admit(s, &budget, &out)) break;  // head of line blocks: keeps priority order
    running_.push_back(s.spec.id);
    waiting_.erase(waiting_.begin());
  }
  return out;
}

bool Scheduler::try_admit(Seq& s, int32_t* budget, SchedulerOutput* out) {
  if (s.n_pending > 0) return false;  // preempted before its last token was known
  const int bs = pool_->block_size();
  const auto n_tokens = static_cast<int32_t>(s.tokens.size());
  // Prefix cache: reuse full blocks; always leave at least one token to compute for logits.
  extend_block_hashes(s.tokens, bs, static_cast<size_t>(n_tokens / bs), &s.hashes);
  std::vector<BlockId> hit = pool_->find_cached_prefix(s.hashes);
  while (!hit.empty() && static_cast<int32_t>(hit.size()) * bs >= n_tokens) hit.pop_back();
  const int32_t n_hit_tokens = static_cast<int32_t>(hit.size()) * bs;
  const int32_t n_new = std::min(n_tokens - n_hit_tokens, *budget);
  const int64_t need = blocks_for(n_hit_tokens + n_new, bs) - static_cast<int64_t>(hit.size());
  // Hit blocks with no other user leave the free list when taken.
  const auto n_hit_free = std::count_if(hit.begin(), hit.end(),
                                        [&](BlockId b) { return pool_->ref_count(b) == 0; });
  if (need + n_hit_free > pool_->n_free()) return false;
  pool_->take(hit);
  s.blocks = hit;
  s.n_computed = n_hit_tokens;
  s.n_cached_blocks = static_cast<int32_t>(hit.size());
  MLXM_CHECK(reserve(s, n_new));
  s.running = true;
  emit(s, n_new, out);
  *budget -= n_new;
  return true;
}

void Scheduler::cache_full_blocks(Seq& s) {
  const int bs = pool_->block_size();
  const int32_t n_known = static_cast<int32_t>(s.tokens.size()) - s.n_pending;
  const int32_t n_full = std::min(s.n_computed, n_known) / bs;
  // Only the blocks filled since the last call are hashed: a long generation does not rehash
  // its whole prefix per block.
  extend_block_hashes(s.tokens, bs, static_cast<size_t>(n_full), &s.hashes);
  for (int32_t b = s.n_cached_blocks; b < n_full; ++b) {
    pool_->cache(s.blocks[static_cast<size_t>(b)], s.hashes[static_cast<size_t>(b)]);
  }
  s.n_cached_blocks = std::max(s.n_cached_blocks, n_full);
}

void Scheduler::step_done(const SchedulerOutput& out) {
  for (const ScheduledSeq& ss : out.seqs) {
    auto it = seqs_.find(ss.id);
    if (it == seqs_.end()) continue;  // finished meanwhile
    Seq& s = it->second;
    s.n_computed = ss.start + static_cast<int32_t>(ss.tokens.size());
    cache_full_blocks(s);
  }
}

bool Scheduler::append_token(SeqId id, int32_t token) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return true;
  Seq& s = it->second;
  s.tokens.push_back(token);
  return n_generated(id) >= s.spec.max_new_tokens;
}

void Scheduler::append_pending(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  it->second.tokens.push_back(kPendingToken);
  ++it->second.n_pending;
}

Status Scheduler::resolve_pending(SeqId id, int32_t token) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return ok_status();
  Seq& s = it->second;
  if (s.n_pending == 0) {
    return invalid_argument("sequence " + std::to_string(id) + " has no pending token");
  }
  s.tokens[s.tokens.size() - static_cast<size_t>(s.n_pending)] = token;
  --s.n_pending;
  cache_full_blocks(s);  // nothing while preempted: no blocks are computed
  return ok_status();
}

int32_t Scheduler::n_generated(SeqId id) const {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return 0;
  return static_cast<int32_t>(it->second.tokens.size() - it->second.spec.prompt.size());
}

void Scheduler::finish(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  pool_->release(it->second.blocks);
  std::erase(running_, id);
  std::erase(waiting_, id);
  seqs_.erase(it);
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats st;
  st.n_running = static_cast<int>(running_.size());
  st.n_waiting = static_cast<int>(waiting_.size());
  st.blocks_used = pool_->n_used();
  st.blocks_total = pool_->n_blocks();
  st.blocks_cached = pool_->n_cached();
  st.n_preemptions = n_preemptions_;
  st.prefix_hits = pool_->n_hits();
  st.prefix_queries = pool_->n_queries();
  return st;
}

}  // namespace mlxm::serving
