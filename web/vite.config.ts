/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// During `npm run dev`, API and Socket.IO requests go to a running skycountd.
// SKYCOUNT_DAEMON=http://192.168.50.1 npm run dev
const daemon = process.env.SKYCOUNT_DAEMON ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    host: true,
    proxy: {
      '/api': { target: daemon, changeOrigin: false },
      '/metrics': { target: daemon, changeOrigin: false },
      '/socket.io': { target: daemon, ws: true, changeOrigin: false },
    },
  },
  build: {
    target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
