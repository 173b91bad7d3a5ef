import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { refuseUnservedPortDriver } from '../../src/daemon.js';
import { KuryrError } from '../../src/errors.js';
import type { KuryrConfig } from '../../src/config/types.js';

const pools = (enabled: boolean) => ({ enabled }) as KuryrConfig['vifPool'];
const neutron = (vifPluggingIsFatal = false) => ({ vifPluggingIsFatal }) as KuryrConfig['neutron'];
const configError = (text: string) => (err: unknown) => err instanceof KuryrError && err.code === 'KURYR_ERR_CONFIG' && err.message.includes(text);

describe('port drivers the daemon serves', () => {
  for (const driver of ['veth', 'nested', 'vlan'] as const) {
    it(`starts with the ${driver} port driver`, () => {
      assert.doesNotThrow(() => refuseUnservedPortDriver({ defaultPortDriver: driver, vifPool: pools(false), neutron: neutron() }));
    });
  }

  for (const driver of ['sriov'] as const) {
    it(`refuses to start with default_port_driver = ${driver}, naming the option, instead of plugging something else`, () => {
      assert.throws(() => refuseUnservedPortDriver({ defaultPortDriver: driver, vifPool: pools(false), neutron: neutron() }), configError(`default_port_driver = ${driver} is not served`));
    });
  }

  it('serves port pools on a host and inside a VM (nested), and refuses them for trunk subports (vlan), which it does not serve yet', () => {
    assert.throws(() => refuseUnservedPortDriver({ defaultPortDriver: 'vlan', vifPool: pools(true), neutron: neutron() }), configError('[vif_pool] enabled = True is not served with default_port_driver = vlan'));
    assert.doesNotThrow(() => refuseUnservedPortDriver({ defaultPortDriver: 'nested', vifPool: pools(true), neutron: neutron() }));
    assert.doesNotThrow(() => refuseUnservedPortDriver({ defaultPortDriver: 'veth', vifPool: pools(true), neutron: neutron() }));
  });

  it('refuses vif_plugging_is_fatal inside a VM (nested): no agent binds the port, it never becomes ACTIVE', () => {
    assert.throws(() => refuseUnservedPortDriver({ defaultPortDriver: 'nested', vifPool: pools(false), neutron: neutron(true) }), configError('vif_plugging_is_fatal = True cannot be met with default_port_driver = nested'));
  });
});
