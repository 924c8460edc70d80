// Cloud settings (GET/POST/PUT/DELETE /api/settings/providers and /rules): shapes, the request
// bodies the forms send, and the reorder helper behind drag-and-drop and the move buttons.

export type ProviderKind = 'openai' | 'anthropic' | 'openai_compatible';

export interface Provider {
  name: string;
  kind: ProviderKind | string;
  preset: string | null;
  base_url: string;
  enabled: boolean;
  has_key: boolean;
  key_source: string | null; // "stored", "env:NAME" or null
  api_key_masked: string;
  api_key_env?: string;
  circuit?: string;
}

export interface ProviderPreset {
  name: string;
  kind: ProviderKind | string;
  base_url: string;
  api_key_env: string;
}

export interface ProviderTest {
  provider: string;
  ok: boolean;
  status: number | null;
  latency_ms: number;
  has_key: boolean;
  n_models?: number;
  error?: string;
}

export type MatchKind = 'exact' | 'prefix' | 'regex';

export interface Rule {
  id: string;
  pattern: string;
  match: MatchKind | string;
  backend: string;
  backend_model: string | null;
  fallback: string[];
  enabled: boolean;
}

export interface RuleTest {
  model: string;
  matched: boolean;
  rule: Rule | null;
  rule_index: number | null;
  backend: string;
  backend_model: string;
  chain: { backend: string; model: string }[];
}

export interface ProviderForm {
  preset: string; // "" = none
  name: string;
  kind: string;
  base_url: string;
  api_key: string; // "" = keep the stored one (edit) / none (add)
  api_key_env: string;
  enabled: boolean;
}

export const emptyProviderForm = (): ProviderForm => ({
  preset: '', name: '', kind: 'openai_compatible', base_url: '', api_key: '', api_key_env: '', enabled: true,
});

// The body for POST (editing = false) or PUT (editing = true). The key is sent only when typed:
// on an edit an empty key keeps the stored one. The name is part of the URL on an edit.
export function providerBody(f: ProviderForm, editing: boolean): Record<string, unknown> {
  const b: Record<string, unknown> = { kind: f.kind, enabled: f.enabled };
  if (!editing) b.name = f.name.trim();
  if (f.preset) b.preset = f.preset;
  if (f.base_url.trim()) b.base_url = f.base_url.trim().replace(/\/+$/, '');
  if (f.api_key.trim()) b.api_key = f.api_key.trim();
  if (f.api_key_env.trim()) b.api_key_env = f.api_key_env.trim();
  return b;
}

// An edit form for an existing provider: the key field starts empty (never shown back).
export function providerForm(p: Provider): ProviderForm {
  return {
    preset: p.preset ?? '', name: p.name, kind: p.kind, base_url: p.base_url, api_key: '',
    api_key_env: p.api_key_env ?? '', enabled: p.enabled,
  };
}

export interface RuleForm {
  pattern: string;
  match: MatchKind;
  backend: string;
  backend_model: string;
  fallback: string; // "backend" or "backend:model", separated by commas or new lines
  enabled: boolean;
}

export const emptyRuleForm = (): RuleForm => ({ pattern: '', match: 'exact', backend: 'local', backend_model: '', fallback: '', enabled: true });

export function parseFallback(text: string): string[] {
  return text.split(/[,\n]/).map((s) => s.trim()).filter((s) => s !== '');
}

export function ruleBody(f: RuleForm): Record<string, unknown> {
  return {
    pattern: f.pattern.trim(),
    match: f.match,
    backend: f.backend,
    backend_model: f.backend_model.trim() || null,
    fallback: parseFallback(f.fallback),
    enabled: f.enabled,
  };
}

export function ruleForm(r: Rule): RuleForm {
  return {
    pattern: r.pattern, match: (['exact', 'prefix', 'regex'].includes(r.match) ? r.match : 'exact') as MatchKind,
    backend: r.backend, backend_model: r.backend_model ?? '', fallback: r.fallback.join(', '), enabled: r.enabled,
  };
}

// `items` with the element at `from` moved to index `to` (clamped); a new array.
export function moveItem<T>(items: readonly T[], from: number, to: number): T[] {
  const out = [...items];
  if (from < 0 || from >= out.length) return out;
  const dest = Math.max(0, Math.min(out.length - 1, to));
  const [x] = out.splice(from, 1);
  out.splice(dest, 0, x);
  return out;
}

// Live server settings (GET/PUT /api/settings/server): self-described fields.
export interface ServerField {
  name: string;
  description: string;
  type: 'integer' | 'choice' | string;
  min?: number;
  max?: number;
  options?: string[];
  unit?: string;
  live?: boolean;
}

// The PUT body: only the values that differ from the server's, integers parsed and range-
// checked. `error` names the first bad field (nothing is sent then).
export function serverPatch(
  fields: ServerField[],
  current: Record<string, unknown>,
  draft: Record<string, string>,
): { patch: Record<string, number | string>; error: string | null } {
  const patch: Record<string, number | string> = {};
  for (const f of fields) {
    const raw = String(draft[f.name] ?? '').trim();
    if (raw === String(current[f.name] ?? '')) continue;
    if (f.type === 'integer') {
      if (!/^-?\d+$/.test(raw)) return { patch: {}, error: `${f.name}: a whole number is needed` };
      const n = Number(raw);
      if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) {
        return { patch: {}, error: `${f.name}: between ${f.min} and ${f.max}` };
      }
      patch[f.name] = n;
    } else {
      if (f.options && !f.options.includes(raw)) return { patch: {}, error: `${f.name}: one of ${f.options.join(', ')}` };
      patch[f.name] = raw;
    }
  }
  return { patch, error: null };
}

// "8.0 GiB · 50% of RAM" for a MiB value; "" when not a MiB field or not a number.
export function mibHint(unit: string | undefined, value: string, totalRamBytes: number | null): string {
  if (unit !== 'MiB' || !/^\d+$/.test(value.trim())) return '';
  const mib = Number(value);
  const gib = `${(mib / 1024).toFixed(mib >= 10240 ? 0 : 1)} GiB`;
  if (!totalRamBytes) return gib;
  return `${gib} · ${Math.round((mib * 1048576 * 100) / totalRamBytes)}% of RAM`;
}

// "pool_budget_mb" -> "Pool budget", "model_ttl_seconds" -> "Model TTL" (the unit is shown apart).
export function settingLabel(name: string): string {
  const words = name.replace(/_(mb|seconds|days|rpm|ms)$/, '').split('_').filter(Boolean)
    .map((w) => (['ttl', 'kv', 'gpu', 'cpu', 'api'].includes(w) ? w.toUpperCase() : w));
  const s = words.join(' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}
