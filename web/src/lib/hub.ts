// Hub search (GET /api/models/search) and deleting cached models (DELETE /api/models/{id}):
// the checks made before a request is sent.

export interface HubHit {
  id: string;
  downloads: number;
  likes: number;
  last_modified: string;
  tags: string[];
}

export const kMaxSearchText = 200;

// The search path for `text` (trimmed; 1..200 characters), `limit` results, only MLX models when
// `mlxOnly` (the hub's `filter=mlx`).
export function searchPath(
  text: string,
  limit = 20,
  mlxOnly = false,
): { ok: true; path: string } | { ok: false; error: string } {
  const q = text.trim();
  if (!q) return { ok: false, error: 'Enter words to search for.' };
  if (q.length > kMaxSearchText) return { ok: false, error: `At most ${kMaxSearchText} characters.` };
  const params = new URLSearchParams({ q, limit: String(Math.min(100, Math.max(1, Math.round(limit)))) });
  if (mlxOnly) params.set('filter', 'mlx');
  return { ok: true, path: `/api/models/search?${params.toString()}` };
}

// A model can be deleted when it lives in the HF cache under an org/name id and nothing of it is
// in the pool (the server refuses with 409 otherwise).
export function canDelete(row: { id: string; source: string; state: string }): boolean {
  return (
    row.source === 'hf_cache' &&
    /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*(@[\w.-]+)?$/.test(row.id) &&
    !['loaded', 'loading', 'unloading'].includes(row.state)
  );
}

// `org/name[@rev]` as a URL path (each segment encoded, the slash kept).
export const modelPath = (id: string) => id.split('/').map(encodeURIComponent).join('/');

// "12.3k" style counts for downloads and likes.
export function compactCount(n: number): string {
  if (!Number.isFinite(n) || n < 1000) return String(Number.isFinite(n) ? Math.max(0, Math.round(n)) : 0);
  const units = ['k', 'M', 'B'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? Math.round(v) : Math.round(v * 10) / 10}${units[i]}`;
}
