import { describe, expect, test } from 'vitest';
import { canAdmin, credentialsProblem, gateFor, loginErrorText, type AuthStatus } from '../src/lib/auth.svelte';
import { ApiError } from '../src/lib/api';

const status = (patch: Partial<AuthStatus> = {}): AuthStatus => ({
  users_exist: true, registration_open: true, api_keys_required: false, authenticated: false, user: null, ...patch,
});
const admin = { id: 1, username: 'ada', is_admin: true, status: 'active', created_at: 0, last_login_at: null };

describe('gateFor', () => {
  test('first run, login, app; servers without accounts go straight to the app', () => {
    expect(gateFor(status({ users_exist: false }), true)).toBe('first-run');
    expect(gateFor(status(), true)).toBe('login');
    expect(gateFor(status({ authenticated: true, user: admin }), true)).toBe('app');
    expect(gateFor(null, false)).toBe('app');
    expect(gateFor(null, true)).toBe('loading');
  });
});

describe('canAdmin', () => {
  test('admins only, once accounts exist', () => {
    expect(canAdmin(status({ authenticated: true, user: admin }), true)).toBe(true);
    expect(canAdmin(status({ authenticated: true, user: { ...admin, is_admin: false } }), true)).toBe(false);
    expect(canAdmin(null, false)).toBe(true);
    expect(canAdmin(status({ users_exist: false }), true)).toBe(true);
  });
});

describe('credentials', () => {
  test('the server rules, checked before sending', () => {
    expect(credentialsProblem('ada', 'correct horse', 'correct horse')).toBeNull();
    expect(credentialsProblem('', 'long enough')).toMatch(/Username/);
    expect(credentialsProblem('a b', 'long enough')).toMatch(/Username/);
    expect(credentialsProblem('x'.repeat(65), 'long enough')).toMatch(/Username/);
    expect(credentialsProblem('ada', 'short')).toMatch(/at least 8/);
    expect(credentialsProblem('ada', 'ü'.repeat(513))).toMatch(/1024 bytes/);
    expect(credentialsProblem('ada', 'long enough', 'different')).toMatch(/do not match/);
  });
  test('login errors by code', () => {
    expect(loginErrorText(new ApiError('x', 401, 'invalid_credentials'))).toBe('Wrong username or password.');
    expect(loginErrorText(new ApiError('x', 403, 'account_pending'))).toMatch(/approve/);
    expect(loginErrorText(new ApiError('server says', 500))).toBe('server says');
  });
});
