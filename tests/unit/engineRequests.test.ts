// What the page asks the engine for instead of computing it on the main thread (src/worker/engine.ts, the
// 'splitTasks' and 'presetSizes' requests): answered without a GPU, by the same rules training and loading use.

import { describe, expect, it } from 'vitest';
import { presetSizes } from '../../src/model/memory';
import { PRESETS } from '../../src/model/presets';
import { DEFAULT_SETTINGS } from '../../src/train/settings';
import { Engine } from '../../src/worker/engine';
import type { TaskInput } from '../../src/worker/protocol';

const engine = new Engine({
  gpu: () => Promise.reject(new Error('these requests need no GPU')),
  checkpoints: () => {
    throw new Error('no checkpoints here');
  },
  deleteCheckpoint: async () => undefined,
  modelCache: () => {
    throw new Error('no downloads here');
  },
  emit: () => undefined,
});

const task = (name: string, n: number): TaskInput => ({
  name,
  examples: Array.from({ length: n }, (_, i) => ({ prompt: `${name} ${i}`, completion: ` ${i}` })),
});

describe('engine requests the page makes', () => {
  it('splits tasks as training will: pool, held-out set and what will not work', () => {
    const settings = {
      ...DEFAULT_SETTINGS,
      seed: 5,
      examplesPerTask: 20,
      evalExamplesPerTask: 7,
      supportSize: 8,
      querySize: 8,
    };
    const summary = engine.splitTasks([task('big', 40), task('small', 12)], settings);
    expect(summary.map((s) => [s.task, s.examples, s.train, s.eval, s.unused])).toEqual([
      ['big', 40, 20, 7, 13],
      ['small', 12, 12, 0, 0],
    ]);
    expect(summary[1].notes.join(' ')).toMatch(/support \+ query \(16\) exceed the pool of 12/);
    // Support and query sizes only matter to MeTA-LoRA.
    expect(engine.splitTasks([task('small', 12)], { ...settings, method: 'lora' })[0].notes).toEqual([
      'only 12 examples for a pool of 20: all train, none is held out',
    ]);
  });

  it('sizes presets, and names an unknown one', () => {
    const smol = PRESETS.find((p) => p.id === 'smollm2-135m')!;
    const sizes = engine.presetSizes(smol.id, 'q8_0');
    expect(sizes).toEqual(presetSizes(smol, 'q8_0'));
    // Q8_0's 8.5 bits a value against the BF16 checkpoint's 16, kept as stored.
    expect(sizes.gpu.weights.bytes).toBeLessThan(engine.presetSizes(smol.id, 'keep').gpu.weights.bytes * 0.6);
    expect(() => engine.presetSizes('nope', 'keep')).toThrow(/no preset "nope"/);
  });
});
