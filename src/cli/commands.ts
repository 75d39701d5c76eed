// Every CLI command: its declaration (flags, help) and the function that runs it; main.ts dispatches on it.

import { EVAL, evalCommand } from './eval';
import { EXPORT, exportCommand } from './export';
import type { CommandSpec } from './flags';
import { GENERATE, generateCommand } from './generate';
import { GPU, gpuCommand } from './gpu';
import { INFO, infoCommand } from './info';
import { LOGITS, logitsCommand } from './logits';
import { STUDY, studyCommand } from './study';
import { TRAIN, trainCommand } from './train';

export interface Command {
  spec: CommandSpec;
  run(args: string[]): Promise<void>;
}

export const COMMANDS: readonly Command[] = [
  { spec: GPU, run: gpuCommand },
  { spec: INFO, run: infoCommand },
  { spec: LOGITS, run: logitsCommand },
  { spec: GENERATE, run: generateCommand },
  { spec: TRAIN, run: trainCommand },
  { spec: EVAL, run: evalCommand },
  { spec: STUDY, run: studyCommand },
  { spec: EXPORT, run: exportCommand },
];
