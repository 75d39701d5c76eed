// What an export produces: named files as lists of byte parts. Large files (a merged model) stay a list of
// per-tensor parts, so the browser can hand them to `new Blob(parts)` and Node can write them part by part,
// without ever joining gigabytes into one buffer.

export interface ExportFile {
  /** Relative path inside the export ("adapter_model.safetensors", "colors/adapter_config.json"). */
  name: string;
  parts: Uint8Array[];
}

export function textFile(name: string, text: string): ExportFile {
  return { name, parts: [new TextEncoder().encode(text)] };
}

export function jsonFile(name: string, value: unknown): ExportFile {
  return textFile(name, `${JSON.stringify(value, null, 2)}\n`);
}

export function fileSize(f: ExportFile): number {
  return f.parts.reduce((n, p) => n + p.byteLength, 0);
}

/**
 * Task names as file or folder names: anything but letters, digits, '.', '_' and '-' becomes '_', and a name
 * that would repeat an earlier one (or be empty, '.' or '..') gets its task's index appended.
 */
export function taskFileNames(tasks: readonly string[]): string[] {
  const used = new Set<string>();
  return tasks.map((task, i) => {
    let s = task.replace(/[^A-Za-z0-9._-]/g, '_');
    if (s === '' || s === '.' || s === '..' || used.has(s)) s = `${s}_${i}`;
    used.add(s);
    return s;
  });
}
