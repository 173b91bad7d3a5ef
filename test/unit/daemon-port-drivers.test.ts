import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { refuseUnservedPortDriver } from '../../src/daemon.js';
import { KuryrError } from '../../src/errors.js';

describe('port drivers the daemon serves', () => {
  it('starts with the veth port driver', () => {
    assert.doesNotThrow(() => refuseUnservedPortDriver({ defaultPortDriver: 'veth' }));
  });

  for (const driver of ['nested', 'vlan', 'sriov'] as const) {
    it(`refuses to start with default_port_driver = ${driver}, naming the option, instead of plugging a veth`, () => {
      assert.throws(
        () => refuseUnservedPortDriver({ defaultPortDriver: driver }),
        (err: unknown) => err instanceof KuryrError && err.code === 'KURYR_ERR_CONFIG' && err.message.includes(`default_port_driver = ${driver} is not served`),
      );
    });
  }
});
