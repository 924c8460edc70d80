// Download-job helpers for the models page: which actions a job allows, its progress and ETA,
// and the model id check done before asking the server.
import type { DownloadJob } from './types';

export const isActive = (j: DownloadJob) => j.status === 'running' || j.status === 'paused';

export function jobActions(j: DownloadJob): { pause: boolean; resume: boolean; cancel: boolean } {
  return {
    pause: j.status === 'running',
    resume: j.status === 'paused' || j.status === 'failed',
    cancel: j.status === 'running' || j.status === 'paused',
  };
}

// Fraction done in [0, 1]; null when the total is not known yet.
export function jobFraction(j: DownloadJob): number | null {
  if (j.status === 'completed') return 1;
  if (!j.bytes_total || j.bytes_total <= 0) return null;
  return Math.min(1, Math.max(0, j.bytes_done / j.bytes_total));
}

// Seconds left at the current rate; null when not running or the rate/total is unknown.
export function jobEtaSeconds(j: DownloadJob): number | null {
  if (j.status !== 'running' || !j.bytes_per_second || j.bytes_per_second <= 0 || !j.bytes_total) return null;
  return Math.max(0, (j.bytes_total - j.bytes_done) / j.bytes_per_second);
}

// "org/name" or "org/name@revision" as the server accepts it; an error message otherwise.
export function checkRepoId(input: string): { ok: true; model: string } | { ok: false; error: string } {
  const model = input.trim().replace(/^https?:\/\/[^/]+\//, '');
  if (!model) return { ok: false, error: 'Enter a model id such as org/name.' };
  const [repo, rev, extra] = model.split('@');
  if (extra !== undefined) return { ok: false, error: 'Only one @revision is allowed.' };
  if (!/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(repo)) {
    return { ok: false, error: `"${repo}" is not a hub model id (org/name).` };
  }
  if (rev !== undefined && !/^[\w./-]+$/.test(rev)) return { ok: false, error: `"${rev}" is not a revision.` };
  return { ok: true, model };
}
