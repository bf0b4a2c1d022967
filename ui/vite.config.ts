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
    rolldownOptions: {
      output: {
        // named chunks for the two heavy libraries, loaded only by the pages that draw charts
        // or edit queries
        codeSplitting: {
          groups: [
            { name: 'echarts', test: /node_modules[\\/](echarts|zrender|tslib)[\\/]/ },
            { name: 'codemirror', test: /node_modules[\\/](@codemirror|@lezer|codemirror|style-mod|w3c-keyname|crelt)[\\/]/ },
          ],
        },
      },
    },
  },
  server: {
    proxy: { '/api': api, '/health': api, '/metrics': api },
  },
  preview: {
    proxy: { '/api': api, '/health': api, '/metrics': api },
  },
});
