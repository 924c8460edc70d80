#include "serving/engine_loop.h"

#include <algorithm>
#include <chrono>

#include "core/clock.h"
#include "core/log.h"
#include "serving/scheduler/live_limits.h"
#include "serving/sink_delivery.h"

namespace mlxm::serving {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAborted: return "abort";
    case FinishReason::kError: return "error";
  }
  return "unknown";
}

// Engine-thread state of one request.
struct EngineLoop::Active {
  GenerationRequest req;
  engine::SamplerState sampler_state;
  TimePoint t_submit;
  std::optional<TimePoint> t_scheduled;
  std::optional<TimePoint> t_first_token;
  int32_t n_cached_prompt = -1;  // set when first scheduled
  bool counted_queued = true;    // still counted in n_queued_

  Active(GenerationRequest r, TimePoint t)
      : req(std::move(r)), sampler_state(req.sampling.seed), t_submit(t) {
    sampler_state.set_prompt(req.prompt);
  }
};

// A step submitted to the engine (pipelined) and not yet collected.
struct EngineLoop::Submitted {
  std::vector<SeqId> seqs;         // every sequence of the step
  std::vector<SeqId> logit_owner;  // the sequence of each logit row
  // Per logit row: the scheduler holds a kPendingToken for its token (the next step computes
  // it); otherwise the token is the sequence's last (max_new_tokens) and is appended.
  std::vector<uint8_t> pending;
};

EngineLoop::EngineLoop(std::unique_ptr<engine::Engine> engine, SchedulerConfig config,
                       EngineLoopOptions options)
    : engine_(std::move(engine)),
      config_(config),
      scheduler_(config_, std::make_unique<BlockPool>(engine_->n_kv_blocks(),
                                                      engine_->block_size(),
                                                      config_.enable_prefix_caching)) {
  stats_.scheduler = scheduler_.stats();  // KV totals are known before the first step
  using Delivery = EngineLoopOptions::Delivery;
  const bool on_thread = options.delivery == Delivery::kThread ||
                         (options.delivery == Delivery::kAuto && engine_->device_argmax());
  if (on_thread) delivery_ = std::make_unique<SinkDelivery>();
  using Pipeline = EngineLoopOptions::Pipeline;
  pipeline_ = options.pipeline == Pipeline::kOn ||
              (options.pipeline == Pipeline::kAuto && engine_->pipelined());
  thread_ = std::thread([this] { run(); });
}

EngineLoop::~EngineLoop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (delivery_) delivery_->stop();  // sinks may call abort(): this loop is still whole
}

void EngineLoop::flush_sink_calls() {
  if (pending_.empty()) return;
  const TimePoint t = now();
  if (delivery_) {
    delivery_->post(pending_);
  } else {
    SinkDelivery::call_all(pending_);
  }
  const double ms = ms_since(t);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.sink_ms += ms;
  stats_.busy_ms += ms;  // busy = forward + sampling + delivery + the rest, as before
}

Result<SeqId> EngineLoop::submit(GenerationRequest request) {
  if (request.prompt.empty()) return invalid_argument("the prompt is empty");
  if (request.max_new_tokens < 1) return invalid_argument("max_tokens must be at least 1");
  const int64_t n_prompt = static_cast<int64_t>(request.prompt.size());
  if (n_prompt + request.max_new_tokens > config_.max_model_len) {
    if (n_prompt >= config_.max_model_len) {
      return out_of_range("the prompt has " + std::to_string(n_prompt) +
                          " tokens, but this model's context length is " +
                          std::to_string(config_.max_model_len) + " tokens");
    }
    return out_of_range("the prompt has " + std::to_string(n_prompt) + " tokens and " +
                        std::to_string(request.max_new_tokens) +
                        " completion tokens were requested, but this model's context length is " +
                        std::to_string(config_.max_model_len) + " tokens");
  }
  const int64_t need_blocks =
      (n_prompt + request.max_new_tokens + engine_->block_size() - 1) / engine_->block_size();
  if (need_blocks > engine_->n_kv_blocks()) {
    return resource_exhausted("the request needs " + std::to_string(need_blocks) +
                              " KV blocks but the cache holds " +
                              std::to_string(engine_->n_kv_blocks()));
  }
  const int32_t vocab = engine_->config().vocab_size;
  MLXM_RETURN_IF_ERROR(engine::validate_sampling_params(request.sampling, vocab));
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= vocab) {
      return invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary (" +
                              std::to_string(vocab) + ")");
    }
  }
  // The live queue limit (serving/scheduler/live_limits.h) only lowers the configured one.
  const int max_waiting =
      capped_by_live(config_.max_waiting, live_limits().max_queued_requests.load());
  if (n_queued_.fetch_add(1) >= max_waiting) {
    n_queued_.fetch_sub(1);
    return resource_exhausted("the server is busy: " + std::to_string(max_waiting) +
                              " requests are already waiting for this model");
  }
  const SeqId id = next_id_.fetch_add(1);
  n_in_flight_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox_.emplace_back(id, std::move(request));
  }
  cv_.notify_one();
  return id;
}

void EngineLoop::abort(SeqId id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborts_.push_back(id);
  }
  cv_.notify_one();
}

EngineLoopStats EngineLoop::stats() const {
  std::lock_guard<std::mutex> lock(const_cast<std::mutex&>(mu_));
  EngineLoopStats st = stats_;
  if (delivery_) st.delivery_ms = delivery_->busy_ms();
  return st;
}

void EngineLoop::run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || !inbox_.empty() || !aborts_.empty() || scheduler_.has_work() ||
               submitted_ != nullptr;
      });
      if (stopping_) break;
    }
    drain_inbox();
    flush_sink_calls();
    if (scheduler_.has_work() || submitted_) {
      step();
      flush_sink_calls();
      if (const int delay = debug_step_delay_ms_.load(); delay > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
    }
  }
  // Shutting down: everything still in flight is aborted.
  if (submitted_) {
    std::vector<int32_t> ids;
    (void)engine_->collect(&ids);  // the engine's step ends; its tokens go nowhere
    submitted_.reset();
  }
  drain_inbox();
  std::vector<SeqId> ids;
  for (auto& [id, a] : active_) ids.push_back(id);
  for (SeqId id : ids) finish(id, FinishReason::kAborted);
  flush_sink_calls();
}

void EngineLoop::drain_inbox() {
  std::deque<std::pair<SeqId, GenerationRequest>> inbox;
  std::vector<SeqId> aborts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox.swap(inbox_);
    aborts.swap(aborts_);
  }
  const TimePoint t = now();
  for (auto& [id, req] : inbox) {
    auto active = std::make_unique<Active>(std::move(req), t);
    SeqSpec spec;
    spec.id = id;
    spec.prompt = active->req.prompt;
    spec.max_new_tokens = active->req.max_new_tokens;
    spec.priority = active->req.priority;
    Status st = scheduler_.add(std::move(spec));
    if (!pipelinable(active->req)) ++n_unpipelinable_;
    active_.emplace(id, std::move(active));
    if (!st.ok()) finish(id, FinishReason::kError, st);
  }
  for (SeqId id : aborts) {
    if (active_.count(id)) finish(id, FinishReason::kAborted);
  }
}

void EngineLoop::finish(SeqId id, FinishReason reason, Status status) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  std::unique_ptr<Active> a = std::move(it->second);
  active_.erase(it);
  if (!pipelinable(a->req)) --n_unpipelinable_;
  scheduler_.finish(id);
  if (a->counted_queued) n_queued_.fetch_sub(1);
  const TimePoint t = now();
  FinishInfo info;
  info.reason = reason;
  info.status = std::move(status);
  info.n_prompt_tokens = static_cast<int32_t>(a->req.prompt.size());
  info.n_generated = static_cast<int32_t>(a->sampler_state.n_output());
  info.n_cached_prompt_tokens = std::max(0, a->n_cached_prompt);
  info.queue_ms = a->t_scheduled ? ms_between(a->t_submit, *a->t_scheduled) : ms_between(a->t_submit, t);
  info.ttft_ms = a->t_first_token ? ms_between(a->t_submit, *a->t_first_token) : 0;
  info.total_ms = ms_between(a->t_submit, t);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.scheduler = scheduler_.stats();
  }
  n_in_flight_.fetch_sub(1);
  SinkCall call;
  call.sink = std::move(a->req.sink);
  call.finish = true;
  call.info = std::move(info);
  pending_.push_back(std::move(call));
}

bool EngineLoop::device_sampled(const GenerationRequest& r) const {
  return (!r.logits_processor || engine_->device_masks()) &&
         (!r.sampling.wants_logprobs() || engine_->device_logprobs());
}

bool EngineLoop::plain_argmax(const GenerationRequest& r) {
  const engine::SamplingParams& p = r.sampling;
  return p.greedy() && !p.wants_logprobs() && p.logit_bias.empty() &&
         p.repetition_penalty == 1.0f && p.frequency_penalty == 0.0f &&
         p.presence_penalty == 0.0f && !r.logits_processor;
}

bool EngineLoop::pipelinable(const GenerationRequest& r) const {
  const engine::SamplingParams& p = r.sampling;
  const bool penalised =
      p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
  // Penalties take the pending token on the device (RowSampling::pending_row), except for
  // raw logprobs, which the device reads back from before the adjustments.
  const bool raw_logprobs = p.wants_logprobs() && p.logprobs_mode == engine::LogprobsMode::kRaw;
  return device_sampled(r) && !r.logits_processor && !(penalised && raw_logprobs);
}

void EngineLoop::step() {
  if (pipeline_ && n_unpipelinable_ == 0) {
    pipelined_step();
    return;
  }
  if (submitted_) (void)collect_submitted();  // the next step needs its tokens on the host
  if (scheduler_.has_work()) run_step();
}

engine::Batch EngineLoop::build_batch(const SchedulerOutput& out, TimePoint t0,
                                      std::vector<SeqId>* logit_owner) {
  engine::Batch batch;
  batch.tokens.reserve(static_cast<size_t>(out.n_tokens));
  batch.positions.reserve(static_cast<size_t>(out.n_tokens));
  batch.seq_ids.reserve(static_cast<size_t>(out.n_tokens));
  logit_owner->clear();
  for (size_t i = 0; i < out.seqs.size(); ++i) {
    const ScheduledSeq& s = out.seqs[i];
    Active& a = *active_.at(s.id);
    if (!a.t_scheduled) a.t_scheduled = t0;
    if (a.n_cached_prompt < 0) a.n_cached_prompt = s.start;
    if (a.counted_queued) {
      a.counted_queued = false;
      n_queued_.fetch_sub(1);
    }
    for (size_t j = 0; j < s.tokens.size(); ++j) {
      batch.tokens.push_back(s.tokens[j]);
      batch.positions.push_back(s.start + static_cast<int32_t>(j));
      batch.seq_ids.push_back(static_cast<int32_t>(i));
    }
    engine::BatchSeq bs;
    bs.block_table = s.block_table;
    bs.n_ctx = s.start + static_cast<int32_t>(s.tokens.size());
    batch.seqs.push_back(std::move(bs));
    if (s.wants_logits) {
      batch.logit_rows.push_back(static_cast<int32_t>(batch.tokens.size()) - 1);
      logit_owner->push_back(s.id);
    }
  }
  return batch;
}

void EngineLoop::deliver_token(SeqId id, Active& a, engine::SampleResult sampled,
                               bool at_limit) {
  const int32_t token = sampled.token;
  if (!a.t_first_token) a.t_first_token = now();
  SinkCall call;
  call.sink = a.req.sink;
  call.token.token = token;
  call.token.sample = std::move(sampled);
  call.token.n_generated = static_cast<int32_t>(a.sampler_state.n_output());
  pending_.push_back(std::move(call));
  const bool is_stop = std::find(a.req.stop_token_ids.begin(), a.req.stop_token_ids.end(),
                                 token) != a.req.stop_token_ids.end();
  if (is_stop) {
    finish(id, FinishReason::kStop);
  } else if (at_limit) {
    finish(id, FinishReason::kLength);
  }
}

void EngineLoop::pipelined_step() {
  const TimePoint t0 = now();
  SchedulerOutput out = scheduler_.schedule();
  if (out.empty()) {
    // Nothing can run before the submitted step's tokens are known (or nothing is left).
    if (submitted_) (void)collect_submitted();
    return;
  }
  auto next = std::make_unique<Submitted>();
  engine::Batch batch = build_batch(out, t0, &next->logit_owner);
  for (const ScheduledSeq& s : out.seqs) next->seqs.push_back(s.id);
  // A pending token is the one the submitted step samples for that sequence's row.
  Status st;
  std::unordered_map<SeqId, int32_t> prev_row;  // sequence -> logit row of the submitted step
  if (submitted_) {
    for (size_t r = 0; r < submitted_->logit_owner.size(); ++r) {
      prev_row.emplace(submitted_->logit_owner[r], static_cast<int32_t>(r));
    }
  }
  for (size_t i = 0; i < batch.tokens.size() && st.ok(); ++i) {
    if (batch.tokens[i] != kPendingToken) continue;
    const SeqId id = out.seqs[static_cast<size_t>(batch.seq_ids[i])].id;
    const auto r = prev_row.find(id);
    if (r == prev_row.end()) {
      st = internal_error("sequence " + std::to_string(id) +
                          " has a pending token from no submitted step");
    } else {
      batch.tokens[i] = engine::previous_row_token(r->second);
    }
  }
  row_specs_.clear();
  for (SeqId id : next->logit_owner) {
    Active& a = *active_.at(id);
    row_specs_.push_back(engine::make_row_sampling(a.req.sampling, a.sampler_state));
    // Its penalties take the token the submitted step samples for it, where it is sampled.
    const auto r = prev_row.find(id);
    if (r != prev_row.end()) engine::mark_pending(a.req.sampling, r->second, &row_specs_.back());
  }
  const TimePoint t_fwd = now();
  if (st.ok()) st = engine_->submit(batch, row_specs_);
  const double forward_ms = ms_since(t_fwd);
  if (!st.ok()) {
    MLXM_LOG_ERROR("engine step failed: {}", st.to_string());
    for (SeqId id : next->seqs) finish(id, FinishReason::kError, st);
    return;  // the submitted step, if any, is collected by the next iteration
  }
  scheduler_.step_done(out);
  next->pending.assign(next->logit_owner.size(), 0);
  for (size_t r = 0; r < next->logit_owner.size(); ++r) {
    const SeqId id = next->logit_owner[r];
    // The row's token is computed next step unless it is the sequence's last.
    if (scheduler_.n_generated(id) + 1 < active_.at(id)->req.max_new_tokens) {
      scheduler_.append_pending(id);
      next->pending[r] = 1;
    }
  }
  const bool overlapped = submitted_ != nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.scheduler = scheduler_.stats();
    stats_.n_steps += 1;
    stats_.n_pipelined_steps += overlapped ? 1 : 0;
    stats_.n_tokens_computed += static_cast<uint64_t>(out.n_tokens);
    stats_.forward_ms += forward_ms;
    stats_.busy_ms += ms_since(t0);
  }
  if (submitted_ && !collect_submitted(next->seqs).ok()) return;  // the engine dropped `next`
  submitted_ = std::move(next);
}

Status EngineLoop::collect_submitted(const std::vector<SeqId>& also) {
  const TimePoint t0 = now();
  std::unique_ptr<Submitted> done = std::move(submitted_);
  Status st = engine_->collect(&argmax_ids_, &row_logprobs_);
  const double forward_ms = ms_since(t0);
  if (!st.ok()) {
    MLXM_LOG_ERROR("engine step failed: {}", st.to_string());
    for (SeqId id : done->seqs) finish(id, FinishReason::kError, st);
    for (SeqId id : also) finish(id, FinishReason::kError, st);
  }
  const TimePoint t_sink = now();
  uint64_t n_generated = 0;  // rows of sequences still running (those of finished ones drop)
  if (st.ok()) {
    for (size_t r = 0; r < done->logit_owner.size(); ++r) {
      const SeqId id = done->logit_owner[r];
      auto it = active_.find(id);
      if (it == active_.end()) continue;  // finished (a stop token, an abort) meanwhile
      ++n_generated;
      Active& a = *it->second;
      if (argmax_ids_[r] < 0) {
        finish(id, FinishReason::kError, engine::row_sample_error(argmax_ids_[r]));
        continue;
      }
      engine::SampleResult sampled = row_logprobs_[r];  // has_logprobs where asked for
      sampled.token = argmax_ids_[r];
      a.sampler_state.record_output(sampled.token);
      if (done->pending[r]) {
        if (Status rs = scheduler_.resolve_pending(id, sampled.token); !rs.ok()) {
          finish(id, FinishReason::kError, rs);
          continue;
        }
      } else {
        scheduler_.append_token(id, sampled.token);
      }
      const bool at_limit =
          static_cast<int32_t>(a.sampler_state.n_output()) >= a.req.max_new_tokens;
      deliver_token(id, a, std::move(sampled), at_limit);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.scheduler = scheduler_.stats();
  stats_.n_tokens_generated += n_generated;
  stats_.forward_ms += forward_ms;
  stats_.sink_ms += ms_since(t_sink);
  stats_.busy_ms += ms_since(t0);
  return st;
}

void EngineLoop::run_step() {
  const TimePoint t0 = now();
  SchedulerOutput out = scheduler_.schedule();
  if (out.empty()) return;

  std::vector<SeqId> logit_owner;
  engine::Batch batch = build_batch(out, t0, &logit_owner);

  // Engines that sample on the device (CUDA) return only token ids for rows that need no
  // host-side logits (their spec carries the uniform drawn from the sequence's RNG, as the host
  // Sampler would draw it); the other rows come back as full logits, in order.
  const bool device_ids = engine_->device_argmax();
  std::vector<int32_t> full_index(logit_owner.size(), -1);     // row -> index in logits_
  // A step whose rows are all plain greedy takes forward_argmax (one argmax pass, no specs).
  bool all_argmax = device_ids;
  for (size_t r = 0; all_argmax && r < logit_owner.size(); ++r) {
    all_argmax = plain_argmax(active_.at(logit_owner[r])->req);
  }
  // Device-sampled rows of a logits processor take its mask; one that allows nothing ends its
  // sequence after the step (as process() returning false does on the host).
  std::vector<uint8_t> nothing_allowed(logit_owner.size(), 0);
  if (device_ids && !all_argmax) {
    row_specs_.assign(logit_owner.size(), engine::RowSampling{});
    int32_t n_full = 0;
    const int32_t vocab = engine_->config().vocab_size;
    for (size_t r = 0; r < logit_owner.size(); ++r) {
      Active& a = *active_.at(logit_owner[r]);
      if (device_sampled(a.req)) {
        row_specs_[r] = engine::make_row_sampling(a.req.sampling, a.sampler_state);
        if (a.req.logits_processor &&
            !a.req.logits_processor->allowed(vocab, &row_specs_[r].mask)) {
          nothing_allowed[r] = 1;
          row_specs_[r].mask.clear();  // any valid spec: the row's token is dropped
        }
      } else {
        row_specs_[r].full = true;
        full_index[r] = n_full++;
      }
    }
  } else if (!device_ids) {
    for (size_t r = 0; r < logit_owner.size(); ++r) full_index[r] = static_cast<int32_t>(r);
  }
  const TimePoint t_fwd = now();
  Status st = all_argmax    ? engine_->forward_argmax(batch, {}, &argmax_ids_, &logits_)
              : device_ids ? engine_->forward_sample(batch, row_specs_, &argmax_ids_, &logits_,
                                                     &row_logprobs_)
                           : engine_->forward(batch, &logits_);
  const double forward_ms = ms_since(t_fwd);
  if (!st.ok()) {
    MLXM_LOG_ERROR("engine step failed: {}", st.to_string());
    for (const ScheduledSeq& s : out.seqs) finish(s.id, FinishReason::kError, st);
    return;
  }
  scheduler_.step_done(out);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.scheduler = scheduler_.stats();
    stats_.n_steps += 1;
    stats_.n_tokens_computed += static_cast<uint64_t>(out.n_tokens);
    stats_.n_tokens_generated += logit_owner.size();
    stats_.forward_ms += forward_ms;
  }

  double sample_ms = 0, sink_ms = 0;
  const size_t vocab = static_cast<size_t>(engine_->config().vocab_size);
  for (size_t r = 0; r < logit_owner.size(); ++r) {
    const SeqId id = logit_owner[r];
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    Active& a = *it->second;
    const TimePoint t_sample = now();
    Result<engine::SampleResult> sampled = engine::SampleResult{};
    if (nothing_allowed[r]) {
      finish(id, FinishReason::kStop);  // the constraint is complete: nothing may follow
      continue;
    }
    if (full_index[r] < 0) {  // sampled on the device
      if (argmax_ids_[r] < 0) {  // forward_argmax: -1 for a row of NaN only
        sampled = engine::row_sample_error(all_argmax ? engine::kRowBadLogits : argmax_ids_[r]);
      } else {
        if (!all_argmax && row_logprobs_[r].has_logprobs) sampled = row_logprobs_[r];
        sampled->token = argmax_ids_[r];
        a.sampler_state.record_output(sampled->token);
      }
    } else {
      std::span<float> row(logits_.data() + static_cast<size_t>(full_index[r]) * vocab, vocab);
      if (a.req.logits_processor && !a.req.logits_processor->process(row)) {
        sample_ms += ms_since(t_sample);
        finish(id, FinishReason::kStop);  // the constraint is complete: nothing may follow
        continue;
      }
      sampled = sampler_.sample(row, a.req.sampling, a.sampler_state);
    }
    const TimePoint t_sink = now();
    sample_ms += ms_between(t_sample, t_sink);
    if (!sampled.ok()) {
      finish(id, FinishReason::kError, sampled.status());
      continue;
    }
    const int32_t token = sampled->token;
    if (a.req.logits_processor) a.req.logits_processor->accept(token);
    const bool at_limit = scheduler_.append_token(id, token);
    deliver_token(id, a, std::move(sampled).value(), at_limit);
    sink_ms += ms_since(t_sink);
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.sample_ms += sample_ms;
  stats_.sink_ms += sink_ms;
  stats_.busy_ms += ms_since(t0);
}

}  // namespace mlxm::serving
