import { afterEach, describe, expect, test, vi } from 'vitest';
import { buildAnthropicBody, buildRequestBody, decodeAnthropicEvent, decodeOpenAiEvent, kAnthropicDefaultMaxTokens, streamChat, tokensPerSecond, type StreamSink } from '../src/lib/chat';
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

const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

function recordingSink() {
  const log: string[] = [];
  const sink: StreamSink = {
    content: (t) => log.push(`c:${t}`),
    reasoning: (t) => log.push(`r:${t}`),
    usage: (p, c) => log.push(`u:${p}/${c}`),
    finish: (r) => log.push(`f:${r}`),
  };
  return { log, sink };
}

describe('buildAnthropicBody', () => {
  test('system to the top level, temperature capped at 1, max_tokens always set', () => {
    const b = buildAnthropicBody({
      model: 'm',
      messages: [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }, { role: 'user', content: 'again' }],
      temperature: 1.6,
      top_p: 0.9,
      ignore_eos: true,
    });
    expect(b).toEqual({
      model: 'm',
      max_tokens: kAnthropicDefaultMaxTokens,
      system: 'Be terse.',
      messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }, { role: 'user', content: 'again' }],
      temperature: 1,
      top_p: 0.9,
      stream: true,
    });
    expect(buildAnthropicBody({ model: 'm', messages: [], max_tokens: 7 })).not.toHaveProperty('system');
    expect(buildAnthropicBody({ model: 'm', messages: [], max_tokens: 7 }).max_tokens).toBe(7);
  });
});

describe('decodeOpenAiEvent', () => {
  test('reasoning_content before content, finish and usage; [DONE] ends', () => {
    const { log, sink } = recordingSink();
    expect(decodeOpenAiEvent({ event: 'message', data: JSON.stringify({ choices: [{ delta: { reasoning_content: 'hmm' } }] }) }, sink)).toBe(false);
    decodeOpenAiEvent({ event: 'message', data: JSON.stringify({ choices: [{ delta: { content: 'A' }, finish_reason: 'stop' }] }) }, sink);
    decodeOpenAiEvent({ event: 'message', data: JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } }) }, sink);
    expect(decodeOpenAiEvent({ event: 'message', data: '[DONE]' }, sink)).toBe(true);
    expect(log).toEqual(['r:hmm', 'c:A', 'f:stop', 'u:3/2']);
    expect(() => decodeOpenAiEvent({ event: 'message', data: '{oops' }, sink)).toThrow('malformed');
  });
});

describe('decodeAnthropicEvent', () => {
  test('thinking and text blocks, usage from message_start and message_delta, message_stop ends', () => {
    const { log, sink } = recordingSink();
    const evs = [
      { event: 'message_start', data: { type: 'message_start', message: { id: 'msg_1', usage: { input_tokens: 9, output_tokens: 0 } } } },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'let me see' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'abc' } } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      { event: 'ping', data: { type: 'ping' } },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hi' } } },
      { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } } },
    ];
    for (const e of evs) expect(decodeAnthropicEvent({ event: e.event, data: JSON.stringify(e.data) }, sink)).toBe(false);
    expect(decodeAnthropicEvent({ event: 'message_stop', data: '{"type":"message_stop"}' }, sink)).toBe(true);
    expect(log).toEqual(['u:9/undefined', 'r:let me see', 'c:Hi', 'f:end_turn', 'u:undefined/4']);
  });
  test('an error event throws its message and type', () => {
    const { sink } = recordingSink();
    expect(() => decodeAnthropicEvent({ event: 'error', data: JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }) }, sink))
      .toThrow(expect.objectContaining({ message: 'busy', code: 'overloaded_error' }));
  });
});

describe('streamChat (Anthropic)', () => {
  test('posts to /v1/messages and streams text, thinking, usage and stop reason', async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) =>
      sseResponse([
        event('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 5, output_tokens: 1 } } }),
        event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } }),
        event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'ponder' } }) + event('content_block_stop', { index: 0 }),
        event('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }),
        event('ping', {}),
        event('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Hel' } }),
        event('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'lo' } }),
        event('content_block_stop', { index: 1 }),
        event('message_delta', { delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: 3 } }),
        event('message_stop', {}),
      ]),
    );
    vi.stubGlobal('fetch', fetchMock);
    let text = '';
    let reasoning = '';
    const stats = await streamChat(
      { model: 'demo', protocol: 'anthropic', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'hi' }], max_tokens: 3 },
      { onContent: (s) => (text += s), onReasoning: (s) => (reasoning += s) },
      new AbortController().signal,
    );
    expect(fetchMock.mock.calls[0][0]).toBe('/v1/messages');
    const sent = JSON.parse(fetchMock.mock.calls[0][1].body as string);
    expect(sent).toMatchObject({ model: 'demo', system: 'S', max_tokens: 3, stream: true });
    expect(text).toBe('Hello');
    expect(reasoning).toBe('ponder');
    expect(stats).toMatchObject({ finish_reason: 'max_tokens', prompt_tokens: 5, completion_tokens: 3 });
  });

  test('an Anthropic-shaped HTTP error and a stream without message_stop reject', async () => {
    vi.stubGlobal('fetch', vi.fn(async () =>
      new Response(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } }), { status: 400 }),
    ));
    await expect(streamChat({ model: 'm', protocol: 'anthropic', messages: [] }, { onContent: () => {} }, new AbortController().signal))
      .rejects.toMatchObject({ status: 400, message: 'max_tokens: Field required' });
    vi.stubGlobal('fetch', vi.fn(async () => sseResponse([event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'a' } })])));
    await expect(streamChat({ model: 'm', protocol: 'anthropic', messages: [] }, { onContent: () => {} }, new AbortController().signal))
      .rejects.toThrow('before message_stop');
  });
});
