// Installs llama.cpp for the oracle tests into tests/oracle/node_modules (git-ignored): node-llama-cpp as
// pinned in tests/oracle/package-lock.json, plus only this platform's prebuilt CPU binary. As a dev dependency
// of the app, node-llama-cpp would pull every platform's CUDA/Vulkan/ARM builds (~670 MB) as optional
// dependencies into every install; here optional dependencies are omitted and the one binary the oracle loads
// (`getLlama({ gpu: false, build: 'never' })`) is named explicitly. Does nothing when both are already there.
//
// `npm test` runs it (`node tests/oracle/install.mjs`); the oracle project's globalSetup runs it too, so a
// single oracle test file works on a fresh clone.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ORACLE_DIR = dirname(fileURLToPath(import.meta.url));

/** node-llama-cpp's prebuilt CPU package for a Node platform/arch (the names its own loader imports). */
export function cpuBinaryPackage(platform = process.platform, arch = process.arch) {
  const names = {
    'linux-x64': 'linux-x64',
    'linux-arm64': 'linux-arm64',
    'linux-arm': 'linux-armv7l',
    'darwin-x64': 'mac-x64',
    'darwin-arm64': 'mac-arm64-metal',
    'win32-x64': 'win-x64',
    'win32-arm64': 'win-arm64',
  };
  const name = names[`${platform}-${arch}`];
  if (!name) throw new Error(`llama.cpp oracle: node-llama-cpp has no prebuilt binary for ${platform}-${arch}`);
  return `@node-llama-cpp/${name}`;
}

function installedVersion(pkg) {
  const file = join(ORACLE_DIR, 'node_modules', pkg, 'package.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).version : null;
}

export function ensureOracleInstalled() {
  const manifest = JSON.parse(readFileSync(join(ORACLE_DIR, 'package.json'), 'utf8'));
  const version = manifest.dependencies['node-llama-cpp'];
  const binary = cpuBinaryPackage();
  if (installedVersion('node-llama-cpp') === version && installedVersion(binary) === version) return;
  console.log(`llama.cpp oracle: installing node-llama-cpp ${version} with ${binary} into ${ORACLE_DIR}/node_modules`);
  // --no-save keeps package.json and the lock as committed (the binary differs per platform). Its postinstall
  // (run by npm versions that run install scripts) would look for a GPU build and compile llama.cpp without one.
  execFileSync('npm', ['install', '--omit=optional', '--no-save', '--no-audit', '--no-fund', `${binary}@${version}`], {
    cwd: ORACLE_DIR,
    stdio: 'inherit',
    shell: process.platform === 'win32',
    env: { ...process.env, NODE_LLAMA_CPP_POSTINSTALL: 'skip' },
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) ensureOracleInstalled();
