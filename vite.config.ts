import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { engineOffPage } from './tools/engineOffPage';

export default defineConfig({
  // engineOffPage: the build fails if WGSL or WebGPU compute calls reach a main-thread chunk.
  plugins: [react(), engineOffPage()],
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // bench.html: the GPU report in the browser (bench/browser/), shipped beside the app so any machine can run it.
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL('index.html', import.meta.url)),
        bench: fileURLToPath(new URL('bench.html', import.meta.url)),
      },
    },
  },
});
