import { describe, expect, test } from 'vitest';
import {
  emptyFilter, exportFilename, filterQuery, pageLabel, parseFeedMessage, prependRow, rowMatches, timeBounds, wsUrl,
  type AuditRow, type LogFilter,
} from '../src/lib/logs';

const now = Date.UTC(2026, 10, 29, 18, 0, 0);
const f = (patch: Partial<LogFilter> = {}): LogFilter => ({ ...emptyFilter(), ...patch });

function row(patch: Partial<AuditRow> = {}): AuditRow {
  return {
    id: 1, request_id: 'r1', timestamp_ms: now - 1000, method: 'POST', endpoint: '/v1/chat/completions',
    model: 'demo', backend: 'local', status: 'success', http_status: 200, finish_reason: 'stop', stream: true,
    duration_ms: 12, queue_ms: 0, ttft_ms: 3, prompt_tokens: 5, completion_tokens: 7, cached_tokens: 0,
    tokens_per_second: 100, error_type: null, error_message: null, client_address: '127.0.0.1',
    api_key_id: null, prompt_content: null, response_content: null, ...patch,
  };
}

describe('filterQuery', () => {
  test('no filters: only the extras', () => {
    expect(filterQuery(f(), now)).toBe('');
    expect(filterQuery(f(), now, { limit: 50, offset: 100 })).toBe('limit=50&offset=100');
  });
  test('set filters only, trimmed and encoded', () => {
    const q = new URLSearchParams(filterQuery(f({ model: ' org/m x ', backend: 'local', status: 'error' }), now, { format: 'csv' }));
    expect(Object.fromEntries(q)).toEqual({ model: 'org/m x', backend: 'local', status: 'error', format: 'csv' });
    expect(filterQuery(f({ model: 'a&b' }), now)).toBe('model=a%26b');
  });
  test('presets become since (Unix ms) relative to now', () => {
    expect(filterQuery(f({ range: '1h' }), now)).toBe(`since=${now - 3_600_000}`);
    expect(filterQuery(f({ range: '15m' }), now)).toBe(`since=${now - 900_000}`);
    expect(filterQuery(f({ range: 'all' }), now)).toBe('');
  });
  test('custom range: local datetime bounds, open ends, garbage ignored', () => {
    const from = '2026-11-29T10:00';
    const to = '2026-11-29T11:30';
    const q = new URLSearchParams(filterQuery(f({ range: 'custom', from, to }), now));
    expect(Number(q.get('since'))).toBe(new Date(from).getTime());
    expect(Number(q.get('until'))).toBe(new Date(to).getTime());
    expect(filterQuery(f({ range: 'custom', from: '', to }), now)).toBe(`until=${new Date(to).getTime()}`);
    expect(timeBounds(f({ range: 'custom', from: 'not a date' }), now)).toEqual({ since: null, until: null });
  });
});

describe('rowMatches (live rows)', () => {
  test('every filter applies; until is exclusive', () => {
    expect(rowMatches(row(), f(), now)).toBe(true);
    expect(rowMatches(row(), f({ model: 'other' }), now)).toBe(false);
    expect(rowMatches(row(), f({ backend: 'openai' }), now)).toBe(false);
    expect(rowMatches(row({ status: 'error' }), f({ status: 'success' }), now)).toBe(false);
    expect(rowMatches(row({ timestamp_ms: now - 2 * 3_600_000 }), f({ range: '1h' }), now)).toBe(false);
    const to = '2026-11-29T11:30';
    expect(rowMatches(row({ timestamp_ms: new Date(to).getTime() }), f({ range: 'custom', to }), now)).toBe(false);
    expect(rowMatches(row({ timestamp_ms: new Date(to).getTime() - 1 }), f({ range: 'custom', to }), now)).toBe(true);
  });
});

describe('prependRow', () => {
  test('newest first, no duplicates, page size kept', () => {
    const rows = [row({ id: 2, timestamp_ms: 20 }), row({ id: 1, timestamp_ms: 10 })];
    const r = prependRow(rows, row({ id: 3, timestamp_ms: 30 }), 2);
    expect(r.added).toBe(true);
    expect(r.rows.map((x) => x.id)).toEqual([3, 2]);
    expect(prependRow(r.rows, row({ id: 3, timestamp_ms: 30 }), 2).added).toBe(false);
    // A row that arrived late (older arrival time) still lands in order.
    expect(prependRow(rows, row({ id: 4, timestamp_ms: 15 }), 5).rows.map((x) => x.id)).toEqual([2, 4, 1]);
  });
});

describe('parseFeedMessage', () => {
  test('rows, backlog flag, pings; junk is null', () => {
    expect(parseFeedMessage(JSON.stringify({ type: 'audit_log', backlog: false, data: row({ id: 9 }) }))).toMatchObject({ type: 'audit_log', backlog: false, row: { id: 9 } });
    expect(parseFeedMessage(JSON.stringify({ type: 'audit_log', backlog: true, data: row() }))).toMatchObject({ backlog: true });
    expect(parseFeedMessage('{"type":"ping"}')).toEqual({ type: 'ping' });
    expect(parseFeedMessage('not json')).toBeNull();
    expect(parseFeedMessage('{"type":"audit_log","data":{}}')).toBeNull();
    expect(parseFeedMessage('{"type":"other"}')).toBeNull();
  });
});

describe('exportFilename', () => {
  const at = new Date(2026, 10, 29, 8, 5, 3);
  test('timestamped, with the filters in it, file-name safe', () => {
    expect(exportFilename('jsonl', f(), at)).toBe('mlx-audit-logs-20261129-080503.jsonl');
    expect(exportFilename('csv', f({ model: 'org/Llama 3', status: 'error' }), at)).toBe('mlx-audit-logs-20261129-080503-org_Llama_3-error.csv');
    expect(exportFilename('csv', f({ model: '../../etc' }), at)).toBe('mlx-audit-logs-20261129-080503-.._.._etc.csv');
  });
});

describe('misc', () => {
  test('wsUrl follows the page scheme', () => {
    expect(wsUrl({ protocol: 'http:', host: '127.0.0.1:8080' }, '/admin/ws/audit-logs')).toBe('ws://127.0.0.1:8080/admin/ws/audit-logs');
    expect(wsUrl({ protocol: 'https:', host: 'x.example' }, '/w')).toBe('wss://x.example/w');
  });
  test('pageLabel', () => {
    expect(pageLabel(0, 50, 1234)).toBe('1–50 of 1,234');
    expect(pageLabel(50, 3, 53)).toBe('51–53 of 53');
    expect(pageLabel(0, 0, 0)).toBe('0 of 0');
  });
});
