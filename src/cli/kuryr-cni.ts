#!/usr/bin/env node
/**
 * kuryr-cni: the CNI plugin executable a container runtime runs for each pod (config on stdin,
 * CNI_* in the environment). It forwards the call to the Kuryr node daemon and prints its answer.
 * Runtimes start it for every pod: it loads only what a call needs (no fastify, pino or undici).
 */
import { MAX_CONFIG_BYTES } from '../cni/plugin/netconf.js';
import { runPlugin } from '../cni/plugin/plugin.js';

/** stdin up to one byte past the limit (the plugin refuses a larger config, without reading all of it). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_CONFIG_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

const outcome = await runPlugin(process.env, await readStdin());
process.stdout.write(outcome.stdout);
if (outcome.log) process.stderr.write(`${outcome.log}\n`);
process.exitCode = outcome.exitCode;
