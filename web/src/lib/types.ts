// Shapes of the server's JSON (docs/api.md). Fields the server may omit are optional.

export interface Health {
  status: 'healthy' | 'draining' | string;
  version: string;
}

export interface ModelListEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  loaded?: boolean;
  status?: string; // pool: loaded | loading | available | ...
  pinned?: boolean;
  bytes?: number;
  size_bytes?: number;
  source?: string;
  reason?: string; // status "unloadable": why
  // Not sent by the server yet (the resolver knows them; `mlx-manager models list` prints them):
  // shown when present.
  architecture?: string;
  quantization?: string;
  max_model_len?: number;
}

export interface KvBlocks {
  used: number;
  total: number;
  cached: number;
  block_size: number;
}

export interface AdminModel {
  id: string;
  path?: string;
  source?: string;
  state: string;
  pinned?: boolean;
  bytes?: number;
  file_bytes?: number;
  progress_bytes?: number;
  loaded_at?: number;
  last_used?: number;
  load_ms?: number;
  max_model_len?: number;
  requests_in_flight?: number;
  running?: number;
  waiting?: number;
  weight_bytes?: number;
  kv_bytes?: number;
  runtime_bytes?: number;
  kv_blocks?: KvBlocks;
  prefix_cache?: { hits: number; queries: number };
  preemptions?: number;
  steps?: number;
  tokens_computed?: number;
  tokens_generated?: number;
  busy_ms?: number;
  forward_ms?: number;
  sample_ms?: number;
  sink_ms?: number;
}

export interface PoolStatus {
  budget_bytes: number;
  budget_source?: string;
  used_bytes: number;
  available_bytes?: number;
  rss_bytes?: number;
  loads?: number;
  evictions?: number;
  load_failures?: number;
  ttl_seconds?: number;
  last_errors?: Record<string, string>;
}

export interface AdminModels {
  object: 'list';
  data: AdminModel[];
  pool?: PoolStatus;
}

export interface SystemInfo {
  version: string;
  build_type: string;
  cpu: { model: string; physical_cores: number; logical_cores: number; features: string[] };
  cuda: { compiled: boolean; devices: { name: string; total_bytes?: number; free_bytes?: number }[] };
  memory: { total_bytes: number; available_bytes: number | null } | null;
  process: { pid: number; rss_bytes: number | null; started_at?: number; uptime_s?: number };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

// A hub download job (POST /api/models/download, GET /api/models/downloads).
export interface DownloadJob {
  id: string;
  model: string; // org/name[@revision]
  repo: string;
  revision: string;
  status: 'running' | 'paused' | 'completed' | 'failed' | 'cancelled' | string;
  bytes_total: number;
  bytes_done: number;
  files_total: number;
  files_done: number;
  current_file: string;
  bytes_per_second: number;
  created_ms?: number;
  updated_ms?: number;
  error?: string;
  path?: string;
}
