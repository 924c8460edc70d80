import { describe, expect, test } from 'vitest';
import {
  emptyProviderForm, emptyRuleForm, mibHint, moveItem, parseFallback, providerBody, providerForm, ruleBody, ruleForm, serverPatch, settingLabel, type Provider,
} from '../src/lib/settings';

const provider: Provider = {
  name: 'fake', kind: 'openai_compatible', preset: null, base_url: 'http://127.0.0.1:9/v1', enabled: true,
  has_key: true, key_source: 'stored', api_key_masked: 'sk-…abcd',
};

describe('providerBody', () => {
  test('a new provider: name, kind, trimmed URL without trailing slash, key only when typed', () => {
    const f = { ...emptyProviderForm(), name: ' fake ', base_url: 'http://h/v1/ ', api_key: ' sk-1 ' };
    expect(providerBody(f, false)).toEqual({ name: 'fake', kind: 'openai_compatible', enabled: true, base_url: 'http://h/v1', api_key: 'sk-1' });
    expect(providerBody({ ...f, api_key: '' }, false)).not.toHaveProperty('api_key');
  });
  test('an edit never sends the name or an empty key (the stored key is kept)', () => {
    const f = providerForm(provider);
    expect(f.api_key).toBe(''); // the key is never shown back
    const b = providerBody(f, true);
    expect(b).not.toHaveProperty('name');
    expect(b).not.toHaveProperty('api_key');
    expect(providerBody({ ...f, api_key: 'new' }, true).api_key).toBe('new');
    expect(providerBody({ ...f, preset: 'groq', api_key_env: 'GROQ_KEY' }, true)).toMatchObject({ preset: 'groq', api_key_env: 'GROQ_KEY' });
  });
});

describe('rules', () => {
  test('fallbacks: commas or new lines, blanks dropped', () => {
    expect(parseFallback('a, b:m\n\n c ,')).toEqual(['a', 'b:m', 'c']);
    expect(parseFallback('')).toEqual([]);
  });
  test('ruleBody / ruleForm round trip; empty backend model is null', () => {
    const b = ruleBody({ ...emptyRuleForm(), pattern: ' gpt- ', match: 'prefix', backend: 'fake', fallback: 'local' });
    expect(b).toEqual({ pattern: 'gpt-', match: 'prefix', backend: 'fake', backend_model: null, fallback: ['local'], enabled: true });
    const f = ruleForm({ id: 'r_1', pattern: 'x', match: 'regex', backend: 'p', backend_model: 'm', fallback: ['a', 'b:c'], enabled: false });
    expect(f).toEqual({ pattern: 'x', match: 'regex', backend: 'p', backend_model: 'm', fallback: 'a, b:c', enabled: false });
  });
  test('moveItem: up, down, clamped, out of range unchanged, input untouched', () => {
    const ids = ['a', 'b', 'c', 'd'];
    expect(moveItem(ids, 0, 2)).toEqual(['b', 'c', 'a', 'd']);
    expect(moveItem(ids, 3, 0)).toEqual(['d', 'a', 'b', 'c']);
    expect(moveItem(ids, 1, 99)).toEqual(['a', 'c', 'd', 'b']);
    expect(moveItem(ids, 7, 0)).toEqual(ids);
    expect(ids).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('server settings', () => {
  const fields = [
    { name: 'pool_budget_mb', description: '', type: 'integer', min: 256, max: 1048576, unit: 'MiB' },
    { name: 'model_ttl_seconds', description: '', type: 'integer', min: 0, max: 86400 },
    { name: 'log_level', description: '', type: 'choice', options: ['debug', 'info', 'warn'] },
  ];
  const current = { pool_budget_mb: 8192, model_ttl_seconds: 0, log_level: 'info' };
  test('only changed values, integers parsed', () => {
    expect(serverPatch(fields, current, { pool_budget_mb: '8192', model_ttl_seconds: '0', log_level: 'info' })).toEqual({ patch: {}, error: null });
    expect(serverPatch(fields, current, { pool_budget_mb: ' 4096 ', model_ttl_seconds: '0', log_level: 'debug' }))
      .toEqual({ patch: { pool_budget_mb: 4096, log_level: 'debug' }, error: null });
  });
  test('bad values name the field and send nothing', () => {
    expect(serverPatch(fields, current, { ...current, pool_budget_mb: '12' } as never).error).toMatch(/pool_budget_mb: between 256/);
    expect(serverPatch(fields, current, { ...current, model_ttl_seconds: '1.5' } as never).error).toMatch(/model_ttl_seconds: a whole number/);
    expect(serverPatch(fields, current, { ...current, log_level: 'loud' } as never)).toEqual({ patch: {}, error: 'log_level: one of debug, info, warn' });
  });
  test('MiB hint in GiB and share of RAM', () => {
    expect(mibHint('MiB', '8192', 16 * 2 ** 30)).toBe('8.0 GiB · 50% of RAM');
    expect(mibHint('MiB', '20480', null)).toBe('20 GiB');
    expect(mibHint('seconds', '5', null)).toBe('');
    expect(mibHint('MiB', 'x', null)).toBe('');
  });
});

test('settingLabel', () => {
  expect(settingLabel('pool_budget_mb')).toBe('Pool budget');
  expect(settingLabel('model_ttl_seconds')).toBe('Model TTL');
  expect(settingLabel('rate_limit_rpm')).toBe('Rate limit');
  expect(settingLabel('log_level')).toBe('Log level');
});
