import { describe, expect, test } from 'vitest';
import { SseParser } from '../src/lib/sse';

describe('SseParser', () => {
  test('events split across arbitrary chunks', () => {
    const text = 'data: {"a":1}\n\nevent: progress\ndata: x\n\n: comment\ndata: [DONE]\n\n';
    for (let step = 1; step <= text.length; step++) {
      const p = new SseParser();
      const events = [];
      for (let i = 0; i < text.length; i += step) events.push(...p.push(text.slice(i, i + step)));
      expect(events).toEqual([
        { event: 'message', data: '{"a":1}' },
        { event: 'progress', data: 'x' },
        { event: 'message', data: '[DONE]' },
      ]);
    }
  });

  test('CRLF and CR line ends, also split between chunks', () => {
    const p = new SseParser();
    expect(p.push('data: a\r')).toEqual([]);
    expect(p.push('\n\r\n')).toEqual([{ event: 'message', data: 'a' }]);
    expect(p.push('data: b\r\rdata: c\n\n')).toEqual([
      { event: 'message', data: 'b' },
      { event: 'message', data: 'c' },
    ]);
  });

  test('multi-line data, no space after the colon, id, empty event', () => {
    const p = new SseParser();
    expect(p.push('id: 7\ndata:one\ndata: two\n\n\n\n')).toEqual([{ event: 'message', data: 'one\ntwo', id: '7' }]);
  });

  test('an incomplete event is held back', () => {
    const p = new SseParser();
    expect(p.push('data: partial')).toEqual([]);
    expect(p.push('\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'message', data: 'partial' }]);
  });
});
