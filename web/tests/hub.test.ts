import { describe, expect, test } from 'vitest';
import { canDelete, compactCount, modelPath, searchPath } from '../src/lib/hub';

describe('searchPath', () => {
  test('encodes the text, clamps the limit, adds the MLX filter', () => {
    expect(searchPath('  llama 3 ')).toEqual({ ok: true, path: '/api/models/search?q=llama+3&limit=20' });
    expect(searchPath('a&b=c', 5, true)).toEqual({ ok: true, path: '/api/models/search?q=a%26b%3Dc&limit=5&filter=mlx' });
    expect(searchPath('x', 1000)).toEqual({ ok: true, path: '/api/models/search?q=x&limit=100' });
    expect(searchPath('x', 0)).toEqual({ ok: true, path: '/api/models/search?q=x&limit=1' });
  });
  test('refuses empty and too long text', () => {
    expect(searchPath('   ').ok).toBe(false);
    expect(searchPath('x'.repeat(201)).ok).toBe(false);
    expect(searchPath('x'.repeat(200)).ok).toBe(true);
  });
});

describe('canDelete', () => {
  test('HF cache models that are not in the pool', () => {
    expect(canDelete({ id: 'org/m', source: 'hf_cache', state: 'available' })).toBe(true);
    expect(canDelete({ id: 'org/m@v1', source: 'hf_cache', state: 'unloadable' })).toBe(true);
    for (const state of ['loaded', 'loading', 'unloading']) {
      expect(canDelete({ id: 'org/m', source: 'hf_cache', state })).toBe(false);
    }
    expect(canDelete({ id: 'demo', source: 'explicit', state: 'available' })).toBe(false);
    expect(canDelete({ id: 'org/m', source: 'model_dir', state: 'available' })).toBe(false);
    expect(canDelete({ id: '../m', source: 'hf_cache', state: 'available' })).toBe(false);
  });
});

describe('helpers', () => {
  test('modelPath keeps the slash and encodes the rest', () => {
    expect(modelPath('org/m@v 1')).toBe('org/m%40v%201');
  });
  test('compactCount', () => {
    expect(compactCount(0)).toBe('0');
    expect(compactCount(999)).toBe('999');
    expect(compactCount(1234)).toBe('1.2k');
    expect(compactCount(123456)).toBe('123k');
    expect(compactCount(2500000)).toBe('2.5M');
    expect(compactCount(NaN)).toBe('0');
  });
});
