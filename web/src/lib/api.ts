// Fetch helpers: JSON in and out, OpenAI-shaped errors turned into ApiError, the admin token
// (MLX_SERVER_ADMIN_TOKEN, kept in localStorage) sent on the management routes (/admin/...,
// /api/models/... downloads).

export class ApiError extends Error {
  readonly status: number;
  readonly code: string | null;
  readonly param: string | null;
  constructor(message: string, status: number, code: string | null = null, param: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.param = param;
  }
  // The path itself is unknown to the server (not a missing model): the feature is absent.
  get routeMissing(): boolean {
    return this.status === 404 && this.code === 'not_found';
  }
}

const kTokenKey = 'mlxm_admin_token';

export function adminToken(): string {
  try {
    return localStorage.getItem(kTokenKey) ?? '';
  } catch {
    return '';
  }
}

export function setAdminToken(token: string): void {
  if (token) localStorage.setItem(kTokenKey, token);
  else localStorage.removeItem(kTokenKey);
}

// Routes guarded by MLX_SERVER_ADMIN_TOKEN.
export function needsAdminToken(path: string): boolean {
  return path.startsWith('/admin') || path.startsWith('/api/models');
}

export function authHeaders(path: string): Record<string, string> {
  const token = adminToken();
  return token && needsAdminToken(path) ? { Authorization: `Bearer ${token}` } : {};
}

// Called on a 401 from any route but /api/auth/* (the session ended): auth re-checks status.
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(fn: (() => void) | null): void {
  onUnauthorized = fn;
}
export function noteUnauthorized(path: string, status: number): void {
  if (status === 401 && !path.startsWith('/api/auth/')) onUnauthorized?.();
}

// An ApiError from a non-2xx response (OpenAI error body when there is one).
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* body unreadable: fall back to the status line */
  }
  try {
    const body = JSON.parse(text);
    const e = body?.error;
    if (e && typeof e.message === 'string') {
      return new ApiError(e.message, res.status, e.code ?? null, e.param ?? null);
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(text.trim() || `${res.status} ${res.statusText}`, res.status);
}

export async function requestJson<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders(path) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the server (${(e as Error).message})`, 0);
  }
  if (!res.ok) {
    noteUnauthorized(path, res.status);
    throw await errorFromResponse(res);
  }
  const text = await res.text(); // 204 and other empty answers: undefined
  return (text ? JSON.parse(text) : undefined) as T;
}

export const getJson = <T>(path: string, signal?: AbortSignal) => requestJson<T>('GET', path, undefined, signal);
export const postJson = <T>(path: string, body?: unknown) => requestJson<T>('POST', path, body ?? {});
export const putJson = <T>(path: string, body?: unknown) => requestJson<T>('PUT', path, body ?? {});
export const patchJson = <T>(path: string, body?: unknown) => requestJson<T>('PATCH', path, body ?? {});
export const deleteJson = <T>(path: string) => requestJson<T>('DELETE', path);
