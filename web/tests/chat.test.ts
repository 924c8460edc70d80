import { afterEach, describe, expect, test, vi } from 'vitest';
import { buildRequestBody, streamChat, tokensPerSecond } from '../src/lib/chat';
import { ApiError } from '../src/lib/api';

function sseResponse(chunks: string[], status = 200): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
  return new Response(body, { status, headers: { 'Content-Type': 'text/event-stream' } });
}

const chunk = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;

afterEach(() => vi.unstubAllGlobals());

describe('tokensPerSecond', () => {
  test('rate after the first token', () => {
    expect(tokensPerSecond(11, 0, 100, 1100)).toBeCloseTo(10);
  });
  test('one token: over the whole duration; unknowns are null', () => {
    expect(tokensPerSecond(1, 0, 200, 200)).toBeCloseTo(5);
    expect(tokensPerSecond(null, 0, 1, 2)).toBeNull();
    expect(tokensPerSecond(5, 0, null, 2)).toBeNull();
    expect(tokensPerSecond(0, 0, 1, 2)).toBeNull();
  });
});

describe('buildRequestBody', () => {
  test('streams with usage; optional fields only when set', () => {
    expect(buildRequestBody({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).toEqual({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const b = buildRequestBody({ model: 'm', messages: [], temperature: 0, top_p: 0.5, max_tokens: 9, ignore_eos: true });
    expect(b).toMatchObject({ temperature: 0, top_p: 0.5, max_tokens: 9, ignore_eos: true });
  });
});

describe('streamChat', () => {
  test('content deltas, usage, finish reason and timing', async () => {
    vi.stubGlobal('fetch', vi.fn(async () =>
      sseResponse([
        chunk({ choices: [{ index: 0, delta: { role: 'assistant' } }] }),
        chunk({ choices: [{ index: 0, delta: { content: 'Hel' } }] }) + chunk({ choices: [{ index: 0, delta: { content: 'lo' } }] }),
        chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'length' }] }),
        chunk({ choices: [], usage: { prompt_tokens: 4, completion_tokens: 3 } }),
        'data: [DONE]\n\n',
      ]),
    ));
    let t = 0;
    const clock = () => (t += 100);
    let text = '';
    const stats = await streamChat({ model: 'm', messages: [] }, { onContent: (s) => (text += s) }, new AbortController().signal, clock);
    expect(text).toBe('Hello');
    expect(stats.finish_reason).toBe('length');
    expect(stats.prompt_tokens).toBe(4);
    expect(stats.completion_tokens).toBe(3);
    expect(stats.ttft_ms).toBe(100); // start=100, first content=200
    expect(stats.total_ms).toBe(200); // end=300
    expect(stats.tokens_per_s).toBeCloseTo(20); // 2 tokens in 100 ms after the first
  });

  test('an HTTP error becomes an ApiError with the server message', async () => {
    vi.stubGlobal('fetch', vi.fn(async () =>
      new Response(JSON.stringify({ error: { message: "'max_tokens' must be >= 1", type: 'invalid_request_error', param: 'max_tokens', code: null } }), { status: 400 }),
    ));
    const p = streamChat({ model: 'm', messages: [] }, { onContent: () => {} }, new AbortController().signal);
    await expect(p).rejects.toBeInstanceOf(ApiError);
    await expect(p).rejects.toMatchObject({ status: 400, param: 'max_tokens', message: "'max_tokens' must be >= 1" });
  });

  test('an error event mid-stream rejects; a stream without [DONE] rejects', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => sseResponse([chunk({ choices: [{ delta: { content: 'a' } }] }), chunk({ error: { message: 'engine failed' } })])));
    await expect(streamChat({ model: 'm', messages: [] }, { onContent: () => {} }, new AbortController().signal)).rejects.toThrow('engine failed');
    vi.stubGlobal('fetch', vi.fn(async () => sseResponse([chunk({ choices: [{ delta: { content: 'a' } }] })])));
    await expect(streamChat({ model: 'm', messages: [] }, { onContent: () => {} }, new AbortController().signal)).rejects.toThrow('before [DONE]');
  });

  test('Stop (abort) resolves with finish_reason "aborted" and the deltas counted', async () => {
    const ctl = new AbortController();
    vi.stubGlobal('fetch', vi.fn(async (_url: string, init: RequestInit) => {
      const enc = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(enc.encode(chunk({ choices: [{ delta: { content: 'a' } }] }) + chunk({ choices: [{ delta: { content: 'b' } }] })));
          init.signal!.addEventListener('abort', () => c.error(new DOMException('aborted', 'AbortError')));
        },
      });
      return new Response(body, { status: 200 });
    }));
    let text = '';
    const p = streamChat({ model: 'm', messages: [] }, { onContent: (s) => { text += s; if (text === 'ab') ctl.abort(); } }, ctl.signal);
    const stats = await p;
    expect(text).toBe('ab');
    expect(stats.finish_reason).toBe('aborted');
    expect(stats.completion_tokens).toBe(2);
  });

  test('reasoning deltas go to onReasoning', async () => {
    vi.stubGlobal('fetch', vi.fn(async () =>
      sseResponse([chunk({ choices: [{ delta: { reasoning_content: 'think' } }] }), chunk({ choices: [{ delta: { content: 'ok' }, finish_reason: 'stop' }] }), 'data: [DONE]\n\n']),
    ));
    let r = '';
    let c = '';
    const stats = await streamChat({ model: 'm', messages: [] }, { onContent: (s) => (c += s), onReasoning: (s) => (r += s) }, new AbortController().signal);
    expect([r, c, stats.finish_reason]).toEqual(['think', 'ok', 'stop']);
  });
});
