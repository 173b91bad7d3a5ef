/**
 * Serializes transactions that touch the same device names (two binds on one network both
 * "ensure" the same brq bridge). Transactions on disjoint names run in parallel. Waiting follows
 * arrival order, so it cannot deadlock.
 */
export class NameLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(names: readonly string[], fn: () => Promise<T>): Promise<T> {
    const before = names.map((n) => this.tails.get(n)).filter((p): p is Promise<void> => p !== undefined);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => { release = resolve; });
    for (const n of names) this.tails.set(n, mine);
    try {
      if (before.length > 0) await Promise.all(before);
      return await fn();
    } finally {
      release();
      for (const n of names) if (this.tails.get(n) === mine) this.tails.delete(n);
    }
  }
}
