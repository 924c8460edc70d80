// Request-log (audit log) helpers: filters <-> query strings for GET /admin/audit-logs, /stats
// and /export, time-range presets, matching live WebSocket rows against the filters, the
// export file name and the WebSocket URL.

export interface AuditRow {
  id: number;
  request_id: string;
  timestamp_ms: number;
  method: string;
  endpoint: string;
  model: string;
  backend: string;
  status: 'success' | 'error' | 'timeout' | 'cancelled' | string;
  http_status: number;
  finish_reason: string;
  stream: boolean;
  duration_ms: number;
  queue_ms: number | null;
  ttft_ms: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  tokens_per_second: number | null;
  error_type: string | null;
  error_message: string | null;
  client_address: string;
  api_key_id: string | null;
  prompt_content: string | null;
  response_content: string | null;
}

export interface AuditPage {
  object: 'list';
  data: AuditRow[];
  total: number;
  limit: number;
  offset: number;
  has_more: boolean;
}

export interface AuditModelStats {
  model: string;
  backend: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  avg_duration_ms: number;
  avg_ttft_ms: number | null;
  avg_tokens_per_second: number | null;
}

export interface AuditStats {
  total_requests: number;
  by_status: Record<string, number>;
  success_rate: number | null;
  prompt_tokens?: number;
  completion_tokens?: number;
  avg_duration_ms?: number | null;
  avg_ttft_ms?: number | null;
  first_timestamp_ms?: number | null;
  last_timestamp_ms?: number | null;
  by_model: AuditModelStats[];
  [key: string]: unknown;
}

export const kStatuses = ['success', 'error', 'timeout', 'cancelled'] as const;

// Time range: a preset relative to now, or explicit bounds (datetime-local strings).
export type RangePreset = 'all' | '15m' | '1h' | '24h' | '7d' | 'custom';
export const kRangePresets: { value: RangePreset; label: string; ms: number }[] = [
  { value: 'all', label: 'All time', ms: 0 },
  { value: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'Last hour', ms: 3_600_000 },
  { value: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { value: 'custom', label: 'Custom range', ms: 0 },
];

export interface LogFilter {
  model: string; // "" = any
  backend: string;
  status: string;
  range: RangePreset;
  from: string; // custom range, <input type="datetime-local"> value ("" = open)
  to: string;
}

export const emptyFilter = (): LogFilter => ({ model: '', backend: '', status: '', range: 'all', from: '', to: '' });

// [since, until) in Unix ms for the filter's time range; null = unbounded. A datetime-local
// value is local time; an unparsable one is ignored.
export function timeBounds(f: LogFilter, nowMs: number): { since: number | null; until: number | null } {
  if (f.range === 'custom') {
    const parse = (s: string) => {
      if (!s.trim()) return null;
      const t = new Date(s).getTime();
      return Number.isFinite(t) ? t : null;
    };
    return { since: parse(f.from), until: parse(f.to) };
  }
  const preset = kRangePresets.find((p) => p.value === f.range);
  if (!preset || preset.ms === 0) return { since: null, until: null };
  return { since: nowMs - preset.ms, until: null };
}

// The query string (without "?") for the list, stats and export endpoints: only the filters
// that are set, plus `extra` (limit, offset, format, ...).
export function filterQuery(f: LogFilter, nowMs: number, extra: Record<string, string | number> = {}): string {
  const q = new URLSearchParams();
  if (f.model.trim()) q.set('model', f.model.trim());
  if (f.backend.trim()) q.set('backend', f.backend.trim());
  if (f.status) q.set('status', f.status);
  const { since, until } = timeBounds(f, nowMs);
  if (since !== null) q.set('since', String(Math.max(0, Math.floor(since))));
  if (until !== null) q.set('until', String(Math.max(0, Math.floor(until))));
  for (const [k, v] of Object.entries(extra)) q.set(k, String(v));
  return q.toString();
}

// Whether a row pushed over the WebSocket belongs in the filtered view.
export function rowMatches(row: AuditRow, f: LogFilter, nowMs: number): boolean {
  if (f.model.trim() && row.model !== f.model.trim()) return false;
  if (f.backend.trim() && row.backend !== f.backend.trim()) return false;
  if (f.status && row.status !== f.status) return false;
  const { since, until } = timeBounds(f, nowMs);
  if (since !== null && row.timestamp_ms < since) return false;
  if (until !== null && row.timestamp_ms >= until) return false;
  return true;
}

const pad = (n: number) => String(n).padStart(2, '0');

// "mlx-audit-logs-20261129-184530.jsonl", plus "-<model>" / "-<status>" when filtered (file-name
// safe characters only).
export function exportFilename(format: 'jsonl' | 'csv', f: LogFilter, now: Date): string {
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  const parts = ['mlx-audit-logs', stamp];
  for (const v of [f.model.trim(), f.backend.trim(), f.status]) {
    const safe = v.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 60);
    if (safe) parts.push(safe);
  }
  return `${parts.join('-')}.${format}`;
}

// ws:// or wss:// URL of `path` on the page's origin.
export function wsUrl(loc: { protocol: string; host: string }, path: string): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${path}`;
}

// A WebSocket message from /admin/ws/audit-logs: a row (live or backlog), a ping, or null for
// anything else (malformed or unknown).
export type FeedMessage = { type: 'audit_log'; backlog: boolean; row: AuditRow } | { type: 'ping' };

export function parseFeedMessage(text: string): FeedMessage | null {
  let m: any;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (m?.type === 'ping') return { type: 'ping' };
  if (m?.type === 'audit_log' && m.data && typeof m.data === 'object' && typeof m.data.id === 'number') {
    return { type: 'audit_log', backlog: m.backlog === true, row: m.data as AuditRow };
  }
  return null;
}

// Adds a live row at the top of the first page: no duplicates (a row already listed is
// ignored), newest first, at most `limit` rows kept. Returns the new list and whether it was
// added.
export function prependRow(rows: AuditRow[], row: AuditRow, limit: number): { rows: AuditRow[]; added: boolean } {
  if (rows.some((r) => r.id === row.id)) return { rows, added: false };
  const next = [row, ...rows].sort((a, b) => b.timestamp_ms - a.timestamp_ms || b.id - a.id);
  return { rows: next.slice(0, limit), added: true };
}

// "1–50 of 1,234" for the pager.
export function pageLabel(offset: number, count: number, total: number): string {
  if (total === 0 || count === 0) return `0 of ${total.toLocaleString('en-US')}`;
  return `${(offset + 1).toLocaleString('en-US')}–${(offset + count).toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`;
}
