// A training folder from outside the app — the PyTorch recipe's --out folder, or a `cli train --out` folder —
// turned into a run record for Compare: its settings, tasks and method from adapter_config.json's "metalora"
// section, its curves from metrics.jsonl, pool sizes from the checkpoint beside them. Given as the files of a
// picked folder or of a zip (paths inside may carry a leading folder). Pure, so tests drive it without a page.

import { unzipSync } from 'fflate';
import { type MetricsRecord, parseMetricsJsonl } from '../../train/metrics';
import type { TrainSettings } from '../../train/settings';

export interface ImportedRun {
  name: string;
  settings: TrainSettings;
  tasks: string[];
  counts: Record<string, { train: number; eval: number }>;
  baseLabel: string;
  iteration: number;
  metrics: MetricsRecord[];
}

export class ImportError extends Error {
  override name = 'ImportError';
}

/** The files of a zip, by path. */
export function unzipFiles(bytes: Uint8Array): Map<string, Uint8Array> {
  try {
    return new Map(Object.entries(unzipSync(bytes)));
  } catch (e) {
    throw new ImportError(`not a readable zip (${(e as Error).message})`);
  }
}

/** The one file named `name` at any depth (a folder pick or zip adds the folder's name in front). */
function find(files: Map<string, Uint8Array>, name: string): Uint8Array | undefined {
  const hits = [...files.keys()].filter((p) => p === name || p.endsWith(`/${name}`));
  if (hits.length > 1)
    throw new ImportError(`${hits.length} files named ${name} (${hits.join(', ')}): import one run at a time`);
  return hits.length ? files.get(hits[0]) : undefined;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

export function importedRunFrom(files: Map<string, Uint8Array>, source: string): ImportedRun {
  const configBytes = find(files, 'adapter_config.json');
  const metricsBytes = find(files, 'metrics.jsonl');
  if (!configBytes || !metricsBytes) {
    throw new ImportError(
      `${source} lacks ${configBytes ? 'metrics.jsonl' : 'adapter_config.json'}: pick a training output ` +
        "folder (the PyTorch recipe's --out, or cli train --out) or a zip of one",
    );
  }
  let config: { base_model_name_or_path?: string; metalora?: { settings?: TrainSettings; tasks?: string[] } };
  try {
    config = JSON.parse(text(configBytes));
  } catch (e) {
    throw new ImportError(`${source}: adapter_config.json is not valid JSON (${(e as Error).message})`);
  }
  const { settings, tasks } = config.metalora ?? {};
  if (!settings || !Array.isArray(tasks)) {
    throw new ImportError(
      `${source}: adapter_config.json has no "metalora" section (only runs of this tool or its recipe import)`,
    );
  }
  const metrics = parseMetricsJsonl(text(metricsBytes));
  if (metrics.length === 0) throw new ImportError(`${source}: metrics.jsonl has no rows`);
  // Pool sizes: the recipe's torch_checkpoint.json or cli train's checkpoint.json; the held-out size is not recorded.
  const ck = find(files, 'torch_checkpoint.json') ?? find(files, 'checkpoint.json');
  const pools = ck ? ((JSON.parse(text(ck)) as { tasks?: { name: string; poolSize: number }[] }).tasks ?? []) : [];
  const counts = Object.fromEntries(pools.map((t) => [t.name, { train: t.poolSize, eval: 0 }]));
  const base =
    (config.base_model_name_or_path ?? 'unknown base').split(/[\\/]/).filter(Boolean).at(-1) ?? 'unknown base';
  return {
    name: `${settings.method} · ${tasks.length} tasks · seed ${settings.seed} (imported from ${source})`,
    settings,
    tasks,
    counts,
    baseLabel: base,
    iteration: Math.max(...metrics.map((r) => r.iteration)),
    metrics,
  };
}
