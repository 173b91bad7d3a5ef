/** The scripted fake Neutron the driver unit tests share (the only place a fake Neutron is allowed). */
import type { Neutron } from '../../src/openstack/neutron-types.js';

/** A Neutron whose methods are scripted per test; every call is recorded. Unscripted calls fail the test. */
export function fakeNeutron(script: Partial<Record<keyof Neutron, (...args: never[]) => unknown>>): { neutron: Neutron; calls: string[] } {
  const calls: string[] = [];
  const neutron = new Proxy({} as Neutron, {
    get: (_t, name: string) => {
      if (name === 'requestCount') return calls.length;
      return async (...args: unknown[]) => {
        calls.push(`${name} ${JSON.stringify(args)}`);
        const impl = (script as Record<string, (...a: unknown[]) => unknown>)[name];
        if (!impl) throw new Error(`unexpected Neutron call ${name}`);
        return impl(...args);
      };
    },
  });
  return { neutron, calls };
}
