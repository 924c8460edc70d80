import { expect, test } from 'vitest';
import { formatAgo, formatBytes, formatDuration, formatMs, formatRate, percent } from '../src/lib/format';
import { parseHash, href } from '../src/lib/router.svelte';

test('formatBytes', () => {
  expect(formatBytes(0)).toBe('0 B');
  expect(formatBytes(1023)).toBe('1023 B');
  expect(formatBytes(1536)).toBe('1.50 KiB');
  expect(formatBytes(297488384)).toBe('284 MiB');
  expect(formatBytes(20221201613)).toBe('18.8 GiB');
  expect(formatBytes(undefined)).toBe('—');
});

test('times and rates', () => {
  expect(formatMs(78.4)).toBe('78 ms');
  expect(formatMs(1530)).toBe('1.53 s');
  expect(formatMs(null)).toBe('—');
  expect(formatDuration(3725)).toBe('1h 2m');
  expect(formatDuration(59)).toBe('59s');
  expect(formatRate(55.73)).toBe('55.7 tok/s');
  expect(formatRate(1234.5)).toBe('1235 tok/s');
  expect(formatAgo(1000, 1000_500)).toBe('just now');
  expect(formatAgo(1000, 1_045_000)).toBe('45 s ago');
  expect(formatAgo(1000, 1_000_000 + 7_200_000)).toBe('2 h ago');
  expect(percent(5, 0)).toBe(0);
  expect(percent(50, 200)).toBe(25);
  expect(percent(300, 200)).toBe(100);
});

test('hash routes', () => {
  expect(parseHash('').page).toBe('dashboard');
  expect(parseHash('#/models').page).toBe('models');
  const r = parseHash('#/chat?model=org/m-4bit');
  expect(r.page).toBe('chat');
  expect(r.params.get('model')).toBe('org/m-4bit');
  expect(parseHash('#/nope').page).toBe('dashboard');
  expect(href('chat', { model: 'a/b' })).toBe('#/chat?model=a%2Fb');
  expect(href('dashboard')).toBe('#/');
});
