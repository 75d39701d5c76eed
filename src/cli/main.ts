// `npm run cli -- <command>`: the headless engine on Dawn (docs/DESIGN.md §3). Each command lives in its own module.

import { evalCommand } from './eval';
import { exportCommand } from './export';
import { generateCommand } from './generate';
import { gpuCommand } from './gpu';
import { infoCommand } from './info';
import { logitsCommand } from './logits';
import { studyCommand } from './study';
import { trainCommand } from './train';

interface Command {
  summary: string;
  run(args: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  gpu: { summary: 'print the WebGPU adapter, its limits and features as JSON', run: gpuCommand },
  info: { summary: 'configuration, parameter count, tensor types and GPU memory estimate of <model> (JSON)', run: infoCommand },
  logits: { summary: 'logits of exactly the given token ids, written as JSON', run: logitsCommand },
  generate: { summary: 'continue --prompt TEXT with a KV cache (greedy or sampled), streaming the text', run: generateCommand },
  train: { summary: 'train an adapter (meta-lora, meta-lora-no-sta, lora, mtl-lora) on --task NAME=FILE ... into --out DIR', run: trainCommand },
  eval: { summary: 'per-task held-out loss and accuracy of --adapter DIR and of the base model (JSON)', run: evalCommand },
  study: { summary: 'train and evaluate every method × --grid setting × seed, writing results.md, results.json and SVG plots', run: studyCommand },
  export: { summary: 'an adapter folder as a PEFT adapter, a GGUF LoRA, or merged safetensors / GGUF weights', run: exportCommand },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: npm run cli -- <command> [options]\n\ncommands:\n${lines.join('\n')}`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`Unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  await command.run(args);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`error: ${e.message}`);
    process.exit(1);
  },
);
