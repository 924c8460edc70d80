// The engine loop: one thread per loaded model that owns the model's inference state
// (scheduler, KV blocks, sampler states) and runs steps: schedule -> one forward over the flat
// batch -> sample one token per sequence that reached the end of its known tokens -> deliver.
//
// Other threads only submit() and abort() (both thread-safe, non-blocking: they queue a command
// and wake the loop). Results leave through each request's TokenSink: the engine thread
// collects a step's sink calls and hands them to a delivery thread (sink_delivery.h), which
// makes them in order while the next step runs, or makes them itself at the end of the step
// (EngineLoopOptions::delivery). A sink must never block (it formats and hands bytes to the
// connection, which writes them on its own strand). A sink that aborts its sequence from
// on_token (a stop string) may still receive the tokens of steps already run (with the
// delivery thread up to SinkDelivery::kMaxQueued + 1 of them); GenerationSession drops them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/sample/logits_processor.h"
#include "engine/sample/sampler.h"
#include "serving/scheduler/scheduler.h"

namespace mlxm::serving {

enum class FinishReason {
  kStop,       // an EOS token (or, decided by the output side, a stop string)
  kLength,     // max_new_tokens reached
  kAborted,    // abort(): client went away, timeout, stop string
  kError,      // the engine failed; see FinishInfo::status
};

const char* finish_reason_name(FinishReason r);  // "stop", "length", "abort", "error"

struct TokenEvent {
  int32_t token = -1;
  engine::SampleResult sample;  // logprobs when asked for
  int32_t n_generated = 0;      // including this one
};

struct FinishInfo {
  FinishReason reason = FinishReason::kStop;
  Status status;               // non-ok with kError
  int32_t n_prompt_tokens = 0;
  int32_t n_generated = 0;
  int32_t n_cached_prompt_tokens = 0;  // prompt tokens served from the prefix cache
  double queue_ms = 0;                 // submit -> first scheduled
  double ttft_ms = 0;                  // submit -> first token
  double total_ms = 0;                 // submit -> finish
};

// Receives one request's output on the engine thread. Must not block.
class TokenSink {
 public:
  virtual ~TokenSink() = default;
  virtual void on_token(const TokenEvent& event) = 0;
  // Called exactly once, last (also when a request is rejected after submit()).
  virtual void on_finish(const FinishInfo& info) = 0;
};

struct GenerationRequest {
  std::vector<int32_t> prompt;   // token ids, non-empty
  engine::SamplingParams sampling;
  int32_t max_new_tokens = 16;
  std::vector<int32_t> stop_token_ids;  // generation ends after emitting one (EOS ids)
  int priority = 0;
  std::shared_ptr<TokenSink> sink;
  // Optional constraint (grammar, JSON schema): masks the row before sampling and sees every
  // sampled token. One per sequence; run on the engine thread. When it reports that nothing
  // may follow, the sequence ends with kStop.
  std::shared_ptr<engine::LogitsProcessor> logits_processor;
};

struct EngineLoopStats {
  SchedulerStats scheduler;
  uint64_t n_steps = 0;
  uint64_t n_tokens_computed = 0;  // prompt + generated tokens run through the model
  uint64_t n_tokens_generated = 0;
  double busy_ms = 0;              // time spent inside steps
  double forward_ms = 0;           // of which in the model's forward pass
  double sample_ms = 0;            // of which sampling
  double sink_ms = 0;              // of which delivering tokens (detokenize, format, queue),
                                   // or handing them to the delivery thread
  double delivery_ms = 0;          // the delivery thread's time in sink calls
  uint64_t n_pipelined_steps = 0;  // of n_steps, submitted before the step before was collected
};

struct EngineLoopOptions {
  // Where sink calls are made (MLX_SERVER_ASYNC_DELIVERY auto|1|0): on a delivery thread,
  // overlapping the next step (kThread), on the engine thread at the end of each step
  // (kInline), or kAuto: a thread for engines whose steps run on a device (the engine thread
  // mostly waits; CUDA), inline for the CPU engine, whose steps use every core (on 2 cores a
  // delivery thread measured 2,844 vs 3,082 tok/s at 64 streams; bench/NOTES.md).
  enum class Delivery { kAuto, kThread, kInline };
  Delivery delivery = Delivery::kAuto;
  // Pipelined steps (MLX_SERVER_PIPELINE auto|1|0): the loop submits step N + 1
  // (Engine::submit) before it collects step N's tokens, so the device runs one step while the
  // host schedules the next and delivers the last. A sequence's token from step N enters step
  // N + 1 as Engine::previous_row_token and reaches the scheduler once collected (one step
  // late: a sequence that stops at step N has computed one row of step N + 1 for nothing).
  // Only while every request is sampled on the device from a spec that needs no host-side
  // work on its last token (no constraint, whose mask needs it; no logprobs unless the engine
  // computes them, Engine::device_logprobs; penalties take the pending token on the device,
  // RowSampling::pending_row, except with raw logprobs); any
  // other request makes the loop collect and run steps one at a time until it finishes. kAuto:
  // where the engine overlaps submitted steps (Engine::pipelined(): CUDA); kOn also where the
  // step runs at submit (for tests: the same tokens, nothing overlaps); kOff never.
  enum class Pipeline { kAuto, kOn, kOff };
  Pipeline pipeline = Pipeline::kAuto;
};

class SinkDelivery;
struct SinkCall;

class EngineLoop {
 public:
  // Starts the engine thread (and the delivery thread). The loop owns the engine.
  EngineLoop(std::unique_ptr<engine::Engine> engine, SchedulerConfig config,
             EngineLoopOptions options = {});
  // Aborts everything in flight (sinks get kAborted), joins the engine thread, then makes
  // every queued sink call and joins the delivery thread.
  ~EngineLoop();
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  // Queues a request. Fails at once (nothing is called on the sink) when it can never run:
  // OutOfRange when prompt + max_new_tokens exceeds the context (message names both lengths),
  // ResourceExhausted when the waiting queue is full or it needs more KV than exists,
  // InvalidArgument for bad sampling params or an empty prompt. Thread-safe.
  Result<SeqId> submit(GenerationRequest request);

  // Aborts a request: its blocks are freed on the next loop iteration and its sink gets
  // on_finish(kAborted) unless it already finished. Thread-safe; unknown ids are ignored.
  void abort(SeqId id);

  const engine::ModelConfig& model_config() const { return engine_->config(); }
  const engine::Engine& engine() const { return *engine_; }
  int max_model_len() const { return config_.max_model_len; }
  // A snapshot, refreshed after every step. Thread-safe.
  EngineLoopStats stats() const;
  // Requests submitted and not yet finished. Thread-safe.
  int n_in_flight() const { return n_in_flight_.load(); }
  // Sleeps this long after every step (for tests of timeouts and disconnects). Thread-safe.
  void set_debug_step_delay_ms(int ms) { debug_step_delay_ms_.store(ms); }

 private:
  struct Active;
  struct Submitted;
  void run();
  void drain_inbox();
  void step();
  // One step run to the end before the next is scheduled (forward, forward_argmax or
  // forward_sample).
  void run_step();
  // Schedules and submits step N + 1, then collects step N (EngineLoopOptions::pipeline).
  void pipelined_step();
  // Collects the submitted step and delivers its tokens. On an engine error every sequence of
  // the step (and of `also`, a step submitted after it, which the engine dropped) finishes with
  // it.
  Status collect_submitted(const std::vector<SeqId>& also = {});
  // The engine batch of a scheduled step; marks its sequences scheduled at t0. *logit_owner:
  // the sequence of each logit row.
  engine::Batch build_batch(const SchedulerOutput& out, TimePoint t0,
                            std::vector<SeqId>* logit_owner);
  // A sequence's next token is known: the sink call, then its end at a stop token or at_limit.
  void deliver_token(SeqId id, Active& a, engine::SampleResult sampled, bool at_limit);
  // Every request in flight can take pipelined steps (see EngineLoopOptions::pipeline).
  bool pipelinable(const GenerationRequest& r) const;
  // True when the next token of `r` needs no host-side logits (a constraint only where the
  // engine applies its mask, Engine::device_masks; logprobs only where it computes them,
  // Engine::device_logprobs): device-argmax engines then sample it where the logits are
  // (Engine::forward_sample) and return only its id (with its logprobs).
  bool device_sampled(const GenerationRequest& r) const;
  // Greedy with nothing to apply to the logits: an argmax is the whole sampling.
  static bool plain_argmax(const GenerationRequest& r);
  void finish(SeqId id, FinishReason reason, Status status = {});
  // The calls collected in pending_ go to the sinks (through the delivery thread, or here).
  void flush_sink_calls();

  std::unique_ptr<engine::Engine> engine_;
  SchedulerConfig config_;
  Scheduler scheduler_;
  engine::Sampler sampler_;

  std::mutex mu_;  // guards inbox_, aborts_, stopping_, stats_
  std::condition_variable cv_;
  std::deque<std::pair<SeqId, GenerationRequest>> inbox_;
  std::vector<SeqId> aborts_;
  bool stopping_ = false;
  EngineLoopStats stats_;

  std::atomic<uint64_t> next_id_{1};
  std::atomic<int> n_in_flight_{0};
  std::atomic<int> n_queued_{0};
  std::atomic<int> debug_step_delay_ms_{0};  // submitted, not yet running (bounds the waiting queue)

  // Engine-thread state.
  std::unordered_map<SeqId, std::unique_ptr<Active>> active_;
  std::vector<float> logits_;
  std::vector<int32_t> argmax_ids_;  // device_argmax engines: one id (or code) per logit row
  std::vector<engine::SampleResult> row_logprobs_;  // ... and the logprobs rows asked for
  std::vector<engine::RowSampling> row_specs_;  // device_argmax engines: one per logit row
  std::vector<SinkCall> pending_;                // this iteration's sink calls, in order
  bool pipeline_ = false;          // pipelined steps allowed (EngineLoopOptions::pipeline)
  int n_unpipelinable_ = 0;        // requests in active_ that are not pipelinable()
  std::unique_ptr<Submitted> submitted_;  // the step submitted and not yet collected
  std::unique_ptr<SinkDelivery> delivery_;       // null: the engine thread makes the calls
  std::thread thread_;
};

}  // namespace mlxm::serving
