// Streaming chat in either protocol: OpenAI (POST /v1/chat/completions, chat.completion.chunk
// SSE) or Anthropic (POST /v1/messages, message_start/content_block_*/message_delta events).
// Text and reasoning deltas go to callbacks, a Stop goes through the AbortSignal, and every
// answer gets its timing (TTFT, tok/s).
import { ApiError, errorFromResponse } from './api';
import { SseParser, type SseEvent } from './sse';
import type { ChatMessage } from './types';

export type Protocol = 'openai' | 'anthropic';

export interface ChatParams {
  model: string;
  messages: ChatMessage[];
  protocol?: Protocol; // default "openai"
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  ignore_eos?: boolean; // OpenAI only (a server extension)
}

export interface AnswerStats {
  ttft_ms: number | null; // request sent -> first content (or reasoning) token
  total_ms: number;
  prompt_tokens: number | null;
  completion_tokens: number | null; // from usage; null when the server sent none
  tokens_per_s: number | null; // generation rate after the first token
  finish_reason: string | null; // "stop", "length", "end_turn", ... or "aborted" after Stop
}

export interface StreamCallbacks {
  onContent(text: string): void;
  onReasoning?(text: string): void;
}

// Anthropic requires max_tokens; the server clamps a larger value to the context left.
export const kAnthropicDefaultMaxTokens = 4096;

// Generation rate: the tokens after the first over the time after the first token (TTFT is
// reported on its own). Falls back to the whole duration when only one token came.
export function tokensPerSecond(
  completionTokens: number | null,
  tStart: number,
  tFirst: number | null,
  tEnd: number,
): number | null {
  if (completionTokens === null || completionTokens <= 0 || tFirst === null) return null;
  if (completionTokens > 1 && tEnd > tFirst) return ((completionTokens - 1) * 1000) / (tEnd - tFirst);
  const total = tEnd - tStart;
  return total > 0 ? (completionTokens * 1000) / total : null;
}

export function buildRequestBody(p: ChatParams): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: p.model,
    messages: p.messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (p.temperature !== undefined) body.temperature = p.temperature;
  if (p.top_p !== undefined) body.top_p = p.top_p;
  if (p.max_tokens !== undefined) body.max_tokens = p.max_tokens;
  if (p.ignore_eos) body.ignore_eos = true;
  return body;
}

// The Anthropic Messages body: system messages become the top-level `system`, temperature is
// capped at Anthropic's maximum of 1, max_tokens is always present.
export function buildAnthropicBody(p: ChatParams): Record<string, unknown> {
  const system = p.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
  const body: Record<string, unknown> = {
    model: p.model,
    max_tokens: p.max_tokens ?? kAnthropicDefaultMaxTokens,
    messages: p.messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role, content: m.content })),
    stream: true,
  };
  if (system) body.system = system;
  if (p.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, p.temperature));
  if (p.top_p !== undefined) body.top_p = p.top_p;
  return body;
}

// What one decoded stream event means for the answer.
export interface StreamSink {
  content(text: string): void;
  reasoning(text: string): void;
  usage(prompt: number | undefined, completion: number | undefined): void;
  finish(reason: string): void;
}

// One OpenAI SSE event; true when the stream is complete ([DONE]). Throws ApiError on an error
// chunk or a malformed one.
export function decodeOpenAiEvent(ev: SseEvent, sink: StreamSink, httpStatus = 200): boolean {
  if (ev.data === '[DONE]') return true;
  let chunk: any;
  try {
    chunk = JSON.parse(ev.data);
  } catch {
    throw new ApiError(`malformed stream chunk: ${ev.data.slice(0, 120)}`, httpStatus);
  }
  if (chunk.error) throw new ApiError(chunk.error.message ?? 'stream error', httpStatus, chunk.error.code ?? null);
  if (chunk.usage) sink.usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens);
  for (const choice of chunk.choices ?? []) {
    const delta = choice.delta ?? {};
    const reasoning: string | undefined = delta.reasoning_content ?? delta.reasoning;
    if (reasoning) sink.reasoning(reasoning);
    if (typeof delta.content === 'string' && delta.content !== '') sink.content(delta.content);
    if (choice.finish_reason) sink.finish(choice.finish_reason);
  }
  return false;
}

// One Anthropic SSE event; true on message_stop. Text goes by text_delta, reasoning by
// thinking_delta (thinking blocks); signature deltas and pings are ignored. An `error` event
// throws ApiError with its message.
export function decodeAnthropicEvent(ev: SseEvent, sink: StreamSink, httpStatus = 200): boolean {
  let data: any;
  try {
    data = JSON.parse(ev.data);
  } catch {
    throw new ApiError(`malformed stream event: ${ev.data.slice(0, 120)}`, httpStatus);
  }
  const type: string = data?.type ?? ev.event;
  switch (type) {
    case 'message_start': {
      const u = data.message?.usage;
      if (u) sink.usage(u.input_tokens, u.output_tokens || undefined);
      return false;
    }
    case 'content_block_start': {
      const b = data.content_block ?? {};
      if (b.type === 'thinking' && b.thinking) sink.reasoning(b.thinking);
      else if (b.type === 'text' && b.text) sink.content(b.text);
      return false;
    }
    case 'content_block_delta': {
      const d = data.delta ?? {};
      if (d.type === 'text_delta' && d.text) sink.content(d.text);
      else if (d.type === 'thinking_delta' && d.thinking) sink.reasoning(d.thinking);
      return false;
    }
    case 'message_delta': {
      if (data.delta?.stop_reason) sink.finish(data.delta.stop_reason);
      const u = data.usage;
      if (u) sink.usage(u.input_tokens, u.output_tokens);
      return false;
    }
    case 'message_stop':
      return true;
    case 'error': {
      const e = data.error ?? {};
      throw new ApiError(e.message ?? 'stream error', httpStatus, e.type ?? null);
    }
    default: // ping, content_block_stop, unknown future events
      return false;
  }
}

// Streams one answer. Resolves with the stats, also after Stop (finish_reason "aborted");
// rejects with ApiError on an HTTP error or an error event in the stream.
export async function streamChat(
  params: ChatParams,
  cb: StreamCallbacks,
  signal: AbortSignal,
  now: () => number = () => performance.now(),
): Promise<AnswerStats> {
  const anthropic = params.protocol === 'anthropic';
  const tStart = now();
  let tFirst: number | null = null;
  let prompt: number | null = null;
  let completion: number | null = null;
  let finish: string | null = null;
  let nDeltas = 0;
  const done = (reason: string | null): AnswerStats => {
    const tEnd = now();
    const n = completion ?? (reason === 'aborted' && nDeltas > 0 ? nDeltas : null);
    return {
      ttft_ms: tFirst === null ? null : tFirst - tStart,
      total_ms: tEnd - tStart,
      prompt_tokens: prompt,
      completion_tokens: n,
      tokens_per_s: tokensPerSecond(n, tStart, tFirst, tEnd),
      finish_reason: reason,
    };
  };
  const sink: StreamSink = {
    content(t) {
      tFirst ??= now();
      nDeltas++;
      cb.onContent(t);
    },
    reasoning(t) {
      tFirst ??= now();
      nDeltas++;
      cb.onReasoning?.(t);
    },
    usage(p, c) {
      if (p !== undefined) prompt = p;
      if (c !== undefined) completion = c;
    },
    finish(r) {
      finish = r;
    },
  };

  let res: Response;
  try {
    res = await fetch(anthropic ? '/v1/messages' : '/v1/chat/completions', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'text/event-stream',
        ...(anthropic ? { 'anthropic-version': '2023-06-01' } : {}),
      },
      body: JSON.stringify(anthropic ? buildAnthropicBody(params) : buildRequestBody(params)),
      signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') return done('aborted');
    throw new ApiError(`cannot reach the server (${(e as Error).message})`, 0);
  }
  if (!res.ok) throw await errorFromResponse(res);
  if (!res.body) throw new ApiError('the server sent no stream', res.status);

  const decode = anthropic ? decodeAnthropicEvent : decodeOpenAiEvent;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done: eof } = await reader.read();
      if (eof) break;
      for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
        if (decode(ev, sink, res.status)) return done(finish);
      }
    }
  } catch (e) {
    if ((e as Error).name === 'AbortError') return done('aborted');
    throw e;
  } finally {
    reader.releaseLock();
  }
  if (signal.aborted) return done('aborted');
  throw new ApiError(anthropic ? 'the stream ended before message_stop' : 'the stream ended before [DONE]', res.status);
}
