/**
 * Changes to one Neutron object that many containers share (the VM's port, its trunk), written one
 * request at a time: each request carries every change that arrived while the previous one ran.
 * Neutron serialises writes to one object anyway (parallel ones wait on its locks or lose the
 * revision race and retry, past Docker's deadline in a burst); this turns N writes into a few.
 */
export interface Waiter<T, R> {
  item: T;
  resolve(result: R): void;
  reject(err: unknown): void;
}

export class SerialBatches<T, R> {
  private waiting: Waiter<T, R>[] = [];
  private writing = false;

  /**
   * `apply` writes a batch and resolves each of its waiters. When it throws, each waiter is
   * applied alone, so that one bad change (a limit reached) fails only its own caller.
   */
  constructor(
    private readonly apply: (batch: Waiter<T, R>[]) => Promise<void>,
    private readonly maxBatch = 64,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch);
        try {
          await this.apply(batch);
        } catch (err) {
          if (batch.length === 1) batch[0]!.reject(err);
          else for (const one of batch) await this.apply([one]).catch((e: unknown) => one.reject(e));
        }
      }
    } finally {
      this.writing = false;
    }
  }
}
