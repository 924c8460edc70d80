/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// `npm run dev` proxies the API to a local `mlx-manager serve` (MLXM_API, default :10242).
const api = process.env.MLXM_API ?? 'http://127.0.0.1:10242';

export default defineConfig({
  plugins: [svelte()],
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 300 },
  server: {
    proxy: Object.fromEntries(
      ['/v1', '/admin', '/api', '/health', '/tokenize', '/detokenize'].map((p) => [p, api]),
    ),
  },
  test: { include: ['tests/**/*.test.ts'], environment: 'node' },
});
