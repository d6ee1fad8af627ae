// The dashboard's build: web/ → dist/web/, served by `sluice serve` at "/".
// `npx vite --config web/vite.config.ts` runs a dev server that proxies the API to SLUICE_URL
// (default http://127.0.0.1:8080).
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const api = process.env['SLUICE_URL'] ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/api': { target: api, ws: true },
      '/openapi.json': api,
    },
  },
});
