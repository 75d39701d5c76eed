// The README written beside train.py: what the folder holds and the commands, filled in for this run.

import type { ModelDescription } from '../../model/load';
import type { TrainSettings } from '../../train/settings';
import type { TaskSplit, TokenizedExample } from '../../data/tasks';

export function recipeReadme(
  d: ModelDescription,
  s: TrainSettings,
  tasks: readonly TaskSplit<TokenizedExample>[],
  pointer: boolean,
): string {
  const list = tasks
    .map((t) => `- ${t.name}: ${t.train.length} training examples, ${t.eval.length} held out`)
    .join('\n');
  return `# ${s.method} on ${d.name}: PyTorch recipe

Exported by MeTA-LoRA Studio. \`train.py\` reproduces this run (${s.iterations} iterations, seed ${s.seed}) in PyTorch
(>= 1.13, plus numpy) on one device or many, and writes the adapter back in the studio's format.

Tasks (the studio's split, as token ids in \`data.json\`):
${list}

## Run

    python train.py --out run                        # one device: the exported run, same numbers
    torchrun --nproc_per_node=4 train.py --out run   # 4 GPUs (NCCL) or 4 CPU processes (gloo)
    python train.py --out run --iterations 1000      # longer: the schedule continues from the seed
    python train.py --out run --stop-after 100       # stop with a checkpoint after 100 iterations
    python train.py --out run --resume               # continue from run/torch_checkpoint.* (bit for bit)
    torchrun --nproc_per_node=8 train.py --out run --fsdp --dtype bfloat16   # a base too big for one GPU

\`--fsdp\` shards the frozen base over the GPUs (FULL_SHARD, one unit per block; PyTorch >= 2.1 on CUDA, launched
by torchrun; the adapter stays whole on every rank and is all-reduced as without it).

Other flags: \`--base FOLDER\` (another copy of this base in Hugging Face layout; a different model needs a run
exported from it, since data.json holds this tokenizer's ids and adapter_init.safetensors this model's shapes —
train.py checks the shapes), \`--lr\`,
\`--inner-lr\`, \`--eval-every\`, \`--checkpoint-every\`, \`--dtype bfloat16\` (base and activations in bf16:
half the memory, not bit-comparable with the studio), \`--device cpu\`. \`python train.py --help\` lists them.

How the work is spread: ${
    s.method.startsWith('meta-lora')
      ? `each iteration's K = ${Math.min(s.tasksPerIteration, tasks.length)} tasks are divided over the processes; each computes its tasks' query gradients, an all-reduce averages them and every process takes the same AdamW step (more than K processes leave some idle).`
      : `each batch of ${s.batchSize} examples is divided over the processes (data parallel); gradient and token-count sums are all-reduced and every process takes the same AdamW step.`
  }

## Outputs (in --out)

- \`adapter_model.safetensors\` + \`adapter_config.json\`: the studio's adapter folder. Bring it back with
  \`npm run cli -- eval <model> --adapter run --task NAME=FILE\`, \`npm run cli -- export run --format peft\`, or
  the app's Compare tab (import the folder or a zip of it).
- \`metrics.jsonl\`: the studio's metrics rows (support/query loss per task and iteration, held-out loss).
- \`torch_checkpoint.json\` + \`torch_checkpoint.safetensors\`: resume with \`--resume\`.

## Files

- \`train.py\`: the whole implementation, one readable file.
- \`run.json\`: settings, task names, the base (${pointer ? 'a pointer to the Hugging Face folder it was trained on' : '`base/`'}).
- \`data.json\`, \`adapter_init.safetensors\`, \`schedule.json\`: the data, the starting adapter and every
  iteration's episodes/batches and dropout seeds; train.py regenerates the schedule from the seed and stops if it
  ever differs from this file.${pointer ? '' : '\n- `base/`: the base model in Hugging Face layout (config.json + model.safetensors).'}
`;
}
