// Runs before the oracle tests: installs llama.cpp (node-llama-cpp + this platform's CPU binary) on demand.
import { ensureOracleInstalled } from './install.mjs';

export default function setup(): void {
  ensureOracleInstalled();
}
