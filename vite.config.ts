import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { engineOffPage } from './tools/engineOffPage';

export default defineConfig({
  // engineOffPage: the build fails if WGSL or WebGPU compute calls reach a main-thread chunk.
  plugins: [react(), engineOffPage()],
  worker: { format: 'es' },
  build: { target: 'es2022' },
});
