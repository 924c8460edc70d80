// Accounts (docs/auth.md): GET /api/auth/status decides between "create the first account",
// "log in" and the app; login/register/logout; the session is the HttpOnly `mlxm_session`
// cookie the server sets, so every same-origin fetch and the WebSocket carry it.
import { ApiError, getJson, postJson, setUnauthorizedHandler } from './api';

export interface User {
  id: number;
  username: string;
  is_admin: boolean;
  status: 'active' | 'pending' | string;
  created_at: number;
  last_login_at: number | null;
}

export interface AuthStatus {
  users_exist: boolean;
  registration_open: boolean;
  api_keys_required: boolean;
  authenticated: boolean;
  user: User | null;
}

// What the shell shows.
export type Gate = 'loading' | 'first-run' | 'login' | 'app';

export const auth = $state<{ status: AuthStatus | null; supported: boolean; gate: Gate; error: string }>({
  status: null,
  supported: true, // false: the server has no accounts (no /api/auth): the app is open
  gate: 'loading',
  error: '',
});

// The gate for a status: no accounts yet -> first-run registration; accounts but no session
// -> login; a session (or a server without accounts) -> the app.
export function gateFor(status: AuthStatus | null, supported: boolean): Gate {
  if (!supported) return 'app';
  if (!status) return 'loading';
  if (!status.users_exist) return 'first-run';
  return status.authenticated ? 'app' : 'login';
}

// The signed-in user may manage users, keys and settings (or nobody is signed in because the
// server has no accounts, or none exist yet and it is open to this machine).
export function canAdmin(status: AuthStatus | null, supported: boolean): boolean {
  if (!supported) return true;
  if (!status) return false;
  if (!status.users_exist) return true;
  return status.user?.is_admin === true;
}

export async function refreshAuth(): Promise<void> {
  try {
    const s = await getJson<AuthStatus>('/api/auth/status');
    auth.status = s;
    auth.supported = true;
    auth.error = '';
  } catch (e) {
    const err = e as ApiError;
    if (err.routeMissing) {
      auth.supported = false;
    } else {
      auth.error = err.message;
      if (!auth.status) auth.supported = false; // unreachable server: show the app's own errors
    }
  }
  auth.gate = gateFor(auth.status, auth.supported);
}

// 401 from any API call while signed in: the session ended (expired, logged out elsewhere).
setUnauthorizedHandler(() => {
  if (auth.supported && auth.gate === 'app' && auth.status?.users_exist) void refreshAuth();
});

export interface LoginAnswer {
  user: User;
  token?: string;
  expires_at?: number;
}

export async function login(username: string, password: string): Promise<LoginAnswer> {
  const r = await postJson<LoginAnswer>('/api/auth/login', { username, password });
  await refreshAuth();
  return r;
}

// First user: admin, signed in at once. Later users: pending until an admin approves them.
export async function register(username: string, password: string): Promise<LoginAnswer> {
  const r = await postJson<LoginAnswer>('/api/auth/register', { username, password });
  await refreshAuth();
  return r;
}

export async function logout(): Promise<void> {
  try {
    await postJson('/api/auth/logout');
  } finally {
    await refreshAuth();
  }
}

// Messages for the login form's failures (the server's codes, docs/auth.md).
export function loginErrorText(e: ApiError): string {
  if (e.code === 'invalid_credentials') return 'Wrong username or password.';
  if (e.code === 'account_pending') return 'This account waits for an administrator to approve it.';
  if (e.code === 'rate_limited') return 'Too many attempts; wait a moment and try again.';
  return e.message;
}

// Client-side checks matching the server's rules (username 1–64 of [A-Za-z0-9._@-], password
// 8–1024 bytes); null when fine.
export function credentialsProblem(username: string, password: string, confirm?: string): string | null {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(username)) return 'Username: 1–64 letters, digits or . _ @ -';
  const bytes = new TextEncoder().encode(password).length;
  if (bytes < 8) return 'Password: at least 8 characters.';
  if (bytes > 1024) return 'Password: at most 1024 bytes.';
  if (confirm !== undefined && confirm !== password) return 'The passwords do not match.';
  return null;
}
