// `npm run cli -- <command>`: the headless engine on Dawn (docs/DESIGN.md §3). Each command lives in its own module.

import { COMMANDS } from './commands';
import { helpText, wantsHelp } from './flags';

function usage(): string {
  const lines = COMMANDS.map(({ spec }) => `  ${spec.name.padEnd(10)} ${spec.summary}`);
  return (
    `usage: npm run cli -- <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    "npm run cli -- <command> --help lists the command's flags with their defaults."
  );
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (!command) {
    console.error(`Unknown command "${name}".\n\n${usage()}`);
    return 2;
  }
  if (wantsHelp(args)) {
    console.log(helpText(command.spec));
    return 0;
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
