/**
 * systemd socket activation (sd_listen_fds(3)): with packaging/systemd/kuryr-libnetwork.socket,
 * systemd creates the plugin socket before Kuryr runs (Docker finds it at boot, its first call
 * starts kuryr-server) and passes it as fd 3 with LISTEN_PID and LISTEN_FDS=1.
 */
import { statSync } from 'node:fs';
import { KuryrError } from '../errors.js';

/** sd_listen_fds' SD_LISTEN_FDS_START: the first passed descriptor. */
const FIRST_FD = 3;

/**
 * The inherited listening socket for `socketPath`, or undefined when none was passed to this process.
 * The LISTEN_* variables are removed (as sd_listen_fds(1) does) so that no child takes them.
 */
export function activatedSocketFd(env: NodeJS.ProcessEnv, pid: number, socketPath: string): number | undefined {
  const forUs = env['LISTEN_PID'] === String(pid);
  const count = env['LISTEN_FDS'];
  for (const name of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete env[name];
  if (!forUs || count === undefined) return undefined;
  if (count !== '1') {
    throw new KuryrError('KURYR_ERR_CONFIG', `socket activation passed ${count} sockets; Kuryr takes exactly one, the plugin socket (one ListenStream= in the .socket unit)`);
  }
  // systemd bound the socket at its ListenStream= path: it must be the one Docker is told about.
  let isSocket = false;
  try {
    isSocket = socketPath !== '' && statSync(socketPath).isSocket();
  } catch {
    isSocket = false;
  }
  if (!isSocket) {
    throw new KuryrError('KURYR_ERR_CONFIG', `socket activation passed a socket, but [DEFAULT] socket_path = "${socketPath}" is not one: set ListenStream= in the .socket unit and socket_path to the same path`);
  }
  return FIRST_FD;
}
