/**
 * README.md's command blocks, read from README.md itself. readme.test.ts runs the walk-through and
 * checks the two commands; an install section whose commands need a fixture of their own (a plugin
 * build, an image, a package) is run by the functional test named in RUN_ELSEWHERE, which takes its
 * commands from here with readmeCommands(section), so the README cannot drift from what that test runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository (this file runs from <build>/test/functional/); no harness import, so unit tests can read the README too. */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface CommandBlock {
  /** The `##`/`###` heading the block is under. */
  section: string;
  /** 1-based line of the opening fence. */
  line: number;
  text: string;
}

/** Fences whose info string says "shell commands"; a bare ``` (the Layout tree) is not a command block. */
const COMMAND_FENCE = /^```(sh|bash|shell|console)\s*$/;

export function commandBlocks(markdown: string): CommandBlock[] {
  const blocks: CommandBlock[] = [];
  let section = '';
  let open: CommandBlock | undefined;
  let inOtherFence = false;
  markdown.split('\n').forEach((line, i) => {
    if (open) {
      if (line.startsWith('```')) {
        blocks.push(open);
        open = undefined;
      } else open.text += `${line}\n`;
    } else if (inOtherFence) {
      if (line.startsWith('```')) inOtherFence = false;
    } else if (COMMAND_FENCE.test(line)) {
      open = { section, line: i + 1, text: '' };
    } else if (line.startsWith('```')) {
      inOtherFence = true;
    } else if (/^#{2,3} /.test(line)) {
      section = line.replace(/^#+ /, '').trim();
    }
  });
  assert.equal(open, undefined, 'every command block of README.md is closed');
  return blocks;
}

/** A line without its trailing comment and indentation. */
export const command = (line: string): string => line.replace(/\s+# .*$/, '').trim();

/** A block's commands: comments and blank lines dropped. */
export const commands = (block: CommandBlock): string[] => block.text.split('\n').map(command).filter(Boolean);

export const README = readFileSync(`${REPO}README.md`, 'utf8');
export const BLOCKS = commandBlocks(README);

/** README sections whose blocks another test runs as written: section heading -> test file under test/. */
export const RUN_ELSEWHERE: Record<string, string> = {
  'Install as a Docker managed plugin': 'functional/managed-plugin.test.ts',
  'Run as a container image': 'functional/container-image.test.ts',
  'Install from the npm package': 'unit/npm-package.test.ts',
};

/** The commands of the one block under `section`, as a test runs them (comments dropped). */
export function readmeCommands(section: string): string[] {
  const found = BLOCKS.filter((b) => b.section === section);
  assert.equal(found.length, 1, `README.md has one command block under "${section}"`);
  return commands(found[0]!);
}
