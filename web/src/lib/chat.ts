// Streaming chat against POST /v1/chat/completions (OpenAI SSE): text and reasoning deltas
// to callbacks, a Stop through the AbortSignal, and per-answer timing (TTFT, tok/s).
import { ApiError, errorFromResponse } from './api';
import { SseParser } from './sse';
import type { ChatMessage } from './types';

export interface ChatParams {
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  ignore_eos?: boolean;
}

export interface AnswerStats {
  ttft_ms: number | null; // request sent -> first content (or reasoning) token
  total_ms: number;
  prompt_tokens: number | null;
  completion_tokens: number | null; // from usage; null when the server sent none
  tokens_per_s: number | null; // generation rate after the first token
  finish_reason: string | null; // "stop", "length", ... or "aborted" after Stop
}

export interface StreamCallbacks {
  onContent(text: string): void;
  onReasoning?(text: string): void;
}

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

// Streams one answer. Resolves with the stats, also after Stop (finish_reason "aborted");
// rejects with ApiError on an HTTP error or an error event in the stream.
export async function streamChat(
  params: ChatParams,
  cb: StreamCallbacks,
  signal: AbortSignal,
  now: () => number = () => performance.now(),
): Promise<AnswerStats> {
  const tStart = now();
  let tFirst: number | null = null;
  let usage: { prompt_tokens?: number; completion_tokens?: number } | null = null;
  let finish: string | null = null;
  let nDeltas = 0;
  const done = (reason: string | null): AnswerStats => {
    const tEnd = now();
    const completion = usage?.completion_tokens ?? (reason === 'aborted' && nDeltas > 0 ? nDeltas : null);
    return {
      ttft_ms: tFirst === null ? null : tFirst - tStart,
      total_ms: tEnd - tStart,
      prompt_tokens: usage?.prompt_tokens ?? null,
      completion_tokens: completion,
      tokens_per_s: tokensPerSecond(completion, tStart, tFirst, tEnd),
      finish_reason: reason,
    };
  };

  let res: Response;
  try {
    res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify(buildRequestBody(params)),
      signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') return done('aborted');
    throw new ApiError(`cannot reach the server (${(e as Error).message})`, 0);
  }
  if (!res.ok) throw await errorFromResponse(res);
  if (!res.body) throw new ApiError('the server sent no stream', res.status);

  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done: eof } = await reader.read();
      if (eof) break;
      for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
        if (ev.data === '[DONE]') return done(finish);
        let chunk: any;
        try {
          chunk = JSON.parse(ev.data);
        } catch {
          throw new ApiError(`malformed stream chunk: ${ev.data.slice(0, 120)}`, res.status);
        }
        if (chunk.error) {
          throw new ApiError(chunk.error.message ?? 'stream error', res.status, chunk.error.code ?? null);
        }
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices ?? []) {
          const delta = choice.delta ?? {};
          const reasoning: string | undefined = delta.reasoning_content ?? delta.reasoning;
          if (reasoning) {
            tFirst ??= now();
            nDeltas++;
            cb.onReasoning?.(reasoning);
          }
          if (typeof delta.content === 'string' && delta.content !== '') {
            tFirst ??= now();
            nDeltas++;
            cb.onContent(delta.content);
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
    }
  } catch (e) {
    if ((e as Error).name === 'AbortError') return done('aborted');
    throw e;
  } finally {
    reader.releaseLock();
  }
  if (signal.aborted) return done('aborted');
  throw new ApiError('the stream ended before [DONE]', res.status);
}
