import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The Rust server listens on 8080 during development; the dev server forwards
// every /api request to it so the UI can use same-origin relative URLs.
const API_TARGET = 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target: API_TARGET, changeOrigin: true },
    },
  },
  preview: {
    proxy: {
      '/api': { target: API_TARGET, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // Ant Design alone is ~500 kB minified (~160 kB gzip). React has a chunk of its own (it
    // changes seldom); the rest is split by use, so the libraries only a lazy page needs (the
    // grid's virtual table, the menu) load with that page, not with the first one.
    chunkSizeWarningLimit: 700,
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler|react-router|cookie)[\\/]/, priority: 2 },
          ],
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['./src/test/setup.ts'],
    restoreMocks: true,
    // A ceiling, not a measure: rendering Ant Design in jsdom on a busy machine takes seconds.
    testTimeout: 20_000,
  },
});
