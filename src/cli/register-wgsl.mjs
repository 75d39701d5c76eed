// Loaded with `tsx --import`: installs the WGSL `?raw` hook before any project module loads.
import { register } from 'node:module';
register('./wgsl-hooks.mjs', import.meta.url);
