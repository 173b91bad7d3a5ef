/**
 * A small CRI client (Kubernetes' RuntimeService over gRPC on a unix socket), the calls a kubelet
 * makes to run a pod: the tests drive containerd's CRI plugin with it the way a kubelet would, since
 * neither Debian nor npm has crictl or a kubelet. The service definition is cri-api's own api.proto,
 * vendored beside this file (Apache-2.0, see LICENSE and README.md here).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The vendored proto stays in the source tree (tsc copies no .proto files into the build). */
const PROTO = new URL('../../../../test/functional/cri/api.proto', import.meta.url).pathname;
const CALL_TIMEOUT_MS = 120_000;

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface PortMapping {
  protocol: Protocol;
  container_port: number;
  host_port: number;
  host_ip: string;
}

export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  hostname: string;
  log_directory: string;
  port_mappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  linux: { cgroup_parent: string; security_context: { namespace_options: { network: 'POD'; pid: 'CONTAINER'; ipc: 'POD' } } };
}

export interface ContainerConfig {
  metadata: { name: string; attempt: number };
  image: { image: string };
  command: string[];
  args: string[];
  labels: Record<string, string>;
  log_path: string;
  linux: Record<string, never>;
}

export interface PodSandboxStatus {
  id: string;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  network: { ip: string; additional_ips: { ip: string }[] } | null;
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

type Unary = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response: unknown) => void) => void;

const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
const runtimeV1 = (grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } }).runtime.v1;

export class CriClient {
  private readonly client: grpc.Client;

  constructor(readonly socketPath: string) {
    this.client = new runtimeV1.RuntimeService(`unix://${socketPath}`, grpc.credentials.createInsecure());
  }

  /** One unary call with a deadline; a gRPC error names the call and carries the runtime's message. */
  private call<T>(method: string, request: object, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method]!.bind(this.client);
    return new Promise((resolve, reject) => {
      fn(request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, response) => {
        if (err) reject(new Error(`CRI ${method}: ${err.details || err.message}`));
        else resolve(response as T);
      });
    });
  }

  version(): Promise<{ version: string; runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    return this.call('Version', { version: 'v1' });
  }

  async status(): Promise<RuntimeCondition[]> {
    const answer = await this.call<{ status: { conditions: RuntimeCondition[] } | null }>('Status', { verbose: false });
    return answer.status?.conditions ?? [];
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return (await this.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: '' })).pod_sandbox_id;
  }

  async podSandboxStatus(podSandboxId: string): Promise<PodSandboxStatus> {
    const answer = await this.call<{ status: PodSandboxStatus | null }>('PodSandboxStatus', { pod_sandbox_id: podSandboxId, verbose: false });
    if (!answer.status) throw new Error(`CRI PodSandboxStatus: no status for ${podSandboxId}`);
    return answer.status;
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.call<{ container_id: string }>('CreateContainer', { pod_sandbox_id: podSandboxId, config, sandbox_config: sandboxConfig })).container_id;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.call('StartContainer', { container_id: containerId });
  }

  /** Runs `cmd` in the container and waits for it (`timeoutS` seconds at most, as the kubelet's exec probes do). */
  async execSync(containerId: string, cmd: string[], timeoutS = 10): Promise<ExecResult> {
    const answer = await this.call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: containerId, cmd, timeout: timeoutS }, (timeoutS + 30) * 1000);
    return { stdout: answer.stdout.toString(), stderr: answer.stderr.toString(), exitCode: answer.exit_code };
  }

  /** Every sandbox the runtime has, ready or not (a failed RunPodSandbox leaves a NOTREADY one). */
  async listPodSandbox(): Promise<{ id: string; state: string; metadata: { name: string; namespace: string } }[]> {
    return (await this.call<{ items: { id: string; state: string; metadata: { name: string; namespace: string } }[] }>('ListPodSandbox', {})).items;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call('StopPodSandbox', { pod_sandbox_id: podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call('RemovePodSandbox', { pod_sandbox_id: podSandboxId });
  }

  close(): void {
    this.client.close();
  }
}

/**
 * A pod's sandbox config as the kubelet writes it: metadata and the io.kubernetes.pod.* labels from
 * the pod, its log directory `<logRoot>/<namespace>_<name>_<uid>`, pod-level network and IPC
 * namespaces, and the pod's host ports.
 */
export function kubeletSandboxConfig(pod: { namespace: string; name: string; uid: string; logRoot: string; portMappings?: PortMapping[]; annotations?: Record<string, string> }): PodSandboxConfig {
  return {
    metadata: { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: 0 },
    hostname: pod.name,
    log_directory: `${pod.logRoot}/${pod.namespace}_${pod.name}_${pod.uid}`,
    port_mappings: pod.portMappings ?? [],
    labels: { 'io.kubernetes.pod.name': pod.name, 'io.kubernetes.pod.namespace': pod.namespace, 'io.kubernetes.pod.uid': pod.uid },
    annotations: pod.annotations ?? {},
    linux: { cgroup_parent: '', security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

/** A container's config as the kubelet writes it: its log file `<name>/<attempt>.log` in the pod's log directory. */
export function kubeletContainerConfig(name: string, image: string, command: string[]): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    command,
    args: [],
    labels: { 'io.kubernetes.container.name': name },
    log_path: `${name}/0.log`,
    linux: {},
  };
}
