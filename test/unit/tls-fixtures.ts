/**
 * Fixtures for listener tests: a test PKI made with the openssl CLI (a CA signing Kuryr's server
 * certificate for 127.0.0.1 and two client certificates with different subject CNs, plus an unrelated
 * CA with a client certificate of its own), and a free loopback port.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPki {
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** The subject CN of clientCert. */
  clientName: string;
  /** Signed by the same CA as clientCert, under another subject CN. */
  secondClientCert: string;
  secondClientKey: string;
  secondClientName: string;
  /** A CA Kuryr does not trust, and a client certificate it signed. */
  otherCaFile: string;
  otherClientCert: string;
  otherClientKey: string;
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', ...KEY, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key };
}

async function makeLeaf(dir: string, name: string, ca: { cert: string; key: string }, extensions: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, extensions);
  await run('openssl', ['req', ...KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { cert, key };
}

export async function makeTestPki(dir: string): Promise<TestPki> {
  const ca = await makeCa(dir, 'kuryr-test-ca');
  const other = await makeCa(dir, 'other-ca');
  const server = await makeLeaf(dir, 'kuryr-server', ca, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  const client = await makeLeaf(dir, 'docker-client', ca, 'extendedKeyUsage=clientAuth\n');
  const secondClient = await makeLeaf(dir, 'docker-client-2', ca, 'extendedKeyUsage=clientAuth\n');
  const otherClient = await makeLeaf(dir, 'stranger-client', other, 'extendedKeyUsage=clientAuth\n');
  return {
    caFile: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    clientName: 'docker-client',
    secondClientCert: secondClient.cert,
    secondClientKey: secondClient.key,
    secondClientName: 'docker-client-2',
    otherCaFile: other.cert,
    otherClientCert: otherClient.cert,
    otherClientKey: otherClient.key,
  };
}

/** A loopback port nothing listens on right now (for listeners configured by URL, not port 0). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}
