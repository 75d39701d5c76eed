// Which kernel variants the CLI's GPU context runs (`--kernels`, or METALORA_KERNELS): measured once per
// adapter and kept in a JSON file (src/ops/tuning.ts chooseKernels), each op's default, or forced by name.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { GpuContext } from '../gpu/context';
import type { KernelChoiceRecord, KernelChoiceStore } from '../gpu/kernelChoice';
import { KERNEL_PROBES, chooseKernels } from '../ops/tuning';
import { UsageError } from './args';

export const KERNEL_FLAGS = {
  kernels: {
    type: 'string',
    value: 'auto|defaults|FAMILY=VARIANT,...',
    help:
      'kernel variants: auto measures them once per GPU (cached in ~/.cache/metalora-studio/kernels.json, ' +
      'or METALORA_KERNEL_CACHE); defaults runs each kernel family’s default; FAMILY=VARIANT forces one (the rest auto)',
    defaultText: 'METALORA_KERNELS, else auto',
  },
} as const;

/** The JSON file measured choices are kept in, one record per adapter and kernel version. */
export function kernelCachePath(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return process.env.METALORA_KERNEL_CACHE || join(base, 'metalora-studio', 'kernels.json');
}

/** A store in one JSON file; an unreadable file is reported and replaced, never fatal. */
export function fileKernelStore(path = kernelCachePath()): KernelChoiceStore {
  const readAll = (): KernelChoiceRecord[] => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return [];
    }
    try {
      const records = (JSON.parse(text) as { records?: unknown }).records;
      if (Array.isArray(records)) return records as KernelChoiceRecord[];
    } catch {
      // reported below
    }
    console.error(`warning: ${path} is not a kernel choice file; measuring again and replacing it`);
    return [];
  };
  return {
    where: path,
    load: async (key) => readAll().find((r) => r.key === key && r.families && typeof r.families === 'object'),
    save: async (record) => {
      const records = [...readAll().filter((r) => r.key !== record.key), record];
      mkdirSync(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`; // processes measuring at once each write whole files
      writeFileSync(tmp, `${JSON.stringify({ records }, null, 2)}\n`);
      renameSync(tmp, path);
    },
  };
}

/** `--kernels` parsed: auto (measure or load), defaults (no choices), and variants forced per family. */
export interface KernelSetting {
  mode: 'auto' | 'defaults';
  forced: Record<string, string>;
}

export function parseKernelSetting(text: string | undefined): KernelSetting {
  const value = (text ?? process.env.METALORA_KERNELS ?? 'auto').trim();
  if (value === 'auto' || value === '') return { mode: 'auto', forced: {} };
  if (value === 'defaults') return { mode: 'defaults', forced: {} };
  const forced: Record<string, string> = {};
  for (const part of value.split(',')) {
    const [family, variant, extra] = part.split('=').map((s) => s.trim());
    if (!family || !variant || extra !== undefined)
      throw new UsageError(`--kernels: "${part}" is not FAMILY=VARIANT (or use auto / defaults)`);
    forced[family] = variant;
  }
  return { mode: 'auto', forced };
}

/**
 * A GPU context running the kernels `setting` asks for. Forced variants are checked against the families'
 * candidates on this adapter, so a typo is an error naming the choices, not a silent default.
 */
export async function openGpu(
  setting: KernelSetting,
  log = (line: string) => console.error(line),
): Promise<GpuContext> {
  const ctx = await GpuContext.create();
  try {
    for (const [family, variant] of Object.entries(setting.forced)) {
      const probe = KERNEL_PROBES.find((p) => p.family === family);
      if (!probe) {
        const names = KERNEL_PROBES.map((p) => p.family).join(', ');
        throw new UsageError(`--kernels: no kernel family "${family}" (families: ${names})`);
      }
      const variants = probe.variants(ctx);
      if (!variants.includes(variant))
        throw new UsageError(
          `--kernels: ${family} has no variant "${variant}" on ${ctx.adapterName} (variants: ${variants.join(', ')})`,
        );
      ctx.kernels.force(family, variant);
    }
    if (setting.mode === 'auto') await chooseKernels(ctx, fileKernelStore(), { log });
    return ctx;
  } catch (e) {
    ctx.destroy();
    throw e;
  }
}
