import { NeutronError } from '../openstack/errors.js';
import type { Neutron, Port } from '../openstack/neutron-types.js';

interface Waiting {
  body: Partial<Port>;
  resolve: (port: Port) => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces port creates that arrive together (a burst of `docker run`) into Neutron bulk creates:
 * one request for many ports instead of many requests fighting over Neutron's workers. A bulk create
 * is all-or-nothing, so when one fails, each port is created on its own and only the bad one fails.
 */
export class PortCreateBatcher {
  private queue: Waiting[] = [];
  private scheduled = false;

  constructor(
    private readonly neutron: Neutron,
    private readonly maxBatch = 50,
  ) {}

  create(body: Partial<Port>): Promise<Port> {
    return new Promise((resolve, reject) => {
      this.queue.push({ body, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        // Whatever else arrives in this turn of the event loop joins the same request.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    if (batch.length === 1) {
      const [only] = batch;
      this.neutron.createPort(only!.body).then(only!.resolve, only!.reject);
      return;
    }
    this.neutron.createPorts(batch.map((w) => w.body)).then(
      (ports) => batch.forEach((w, i) => (ports[i] ? w.resolve(ports[i]) : w.reject(new Error('Neutron bulk create returned fewer ports')))),
      (err: unknown) => {
        // Only a definite refusal is retried one by one: after a timeout the bulk may have happened.
        const refused = err instanceof NeutronError && err.httpStatus !== undefined && err.httpStatus >= 400 && err.httpStatus < 500;
        for (const w of batch) {
          if (refused) this.neutron.createPort(w.body).then(w.resolve, w.reject);
          else w.reject(err);
        }
      },
    );
  }
}
