import { describe, expect, test } from 'vitest';
import { checkRepoId, jobActions, jobEtaSeconds, jobFraction } from '../src/lib/downloads';
import type { DownloadJob } from '../src/lib/types';

const job = (patch: Partial<DownloadJob> = {}): DownloadJob => ({
  id: '1', model: 'org/m', repo: 'org/m', revision: 'main', status: 'running', bytes_total: 1000, bytes_done: 250,
  files_total: 4, files_done: 1, current_file: 'model.safetensors', bytes_per_second: 50, ...patch,
});

describe('jobActions', () => {
  test('what each state allows', () => {
    expect(jobActions(job())).toEqual({ pause: true, resume: false, cancel: true });
    expect(jobActions(job({ status: 'paused' }))).toEqual({ pause: false, resume: true, cancel: true });
    expect(jobActions(job({ status: 'failed' }))).toEqual({ pause: false, resume: true, cancel: false });
    for (const s of ['completed', 'cancelled']) expect(jobActions(job({ status: s }))).toEqual({ pause: false, resume: false, cancel: false });
  });
});

describe('progress', () => {
  test('fraction: unknown total is null, completed is 1, clamped', () => {
    expect(jobFraction(job())).toBe(0.25);
    expect(jobFraction(job({ bytes_total: 0 }))).toBeNull();
    expect(jobFraction(job({ status: 'completed', bytes_total: 0 }))).toBe(1);
    expect(jobFraction(job({ bytes_done: 2000 }))).toBe(1);
  });
  test('ETA only while running at a known rate', () => {
    expect(jobEtaSeconds(job())).toBe(15);
    expect(jobEtaSeconds(job({ status: 'paused' }))).toBeNull();
    expect(jobEtaSeconds(job({ bytes_per_second: 0 }))).toBeNull();
  });
});

describe('checkRepoId', () => {
  test('accepts org/name[@revision] and hub URLs', () => {
    expect(checkRepoId(' org/name ')).toEqual({ ok: true, model: 'org/name' });
    expect(checkRepoId('mlx-community/Llama-3.2-1B-Instruct-4bit@main')).toEqual({ ok: true, model: 'mlx-community/Llama-3.2-1B-Instruct-4bit@main' });
    expect(checkRepoId('https://huggingface.co/org/name')).toEqual({ ok: true, model: 'org/name' });
  });
  test('rejects what the server would, with a message', () => {
    for (const bad of ['', 'name-only', 'a/b/c', '../x/y', 'org/name@a@b', 'org/na me']) {
      const r = checkRepoId(bad);
      expect(r.ok, bad).toBe(false);
    }
    expect(checkRepoId('name-only')).toMatchObject({ error: expect.stringContaining('org/name') });
  });
});
