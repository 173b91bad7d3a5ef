import type { Logger } from '../log.js';

/** Runs cleanup steps in reverse, logging (not throwing) their failures: the original error wins. */
export async function undo(logger: Logger, steps: (() => Promise<unknown>)[], what: string): Promise<void> {
  for (const step of [...steps].reverse()) {
    try {
      await step();
    } catch (err) {
      logger.error({ err }, `rollback of ${what} failed; \`kuryr gc\` will find the leftover by its tags`);
    }
  }
}
