import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` (and `vite preview`) proxies the API to a running `vigil up` (VIGIL_API, default 127.0.0.1:8080).
const api = process.env.VIGIL_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: { '/api': api, '/health': api, '/metrics': api },
  },
  preview: {
    proxy: { '/api': api, '/health': api, '/metrics': api },
  },
});
