/**
 * A simulated kubelet (with the ReplicaSet and EndpointSlice controllers folded in): for each managed
 * Deployment it keeps `spec.replicas` real predictor processes running, each on its own loopback
 * address, and publishes them in EndpointSlices labelled `kubernetes.io/service-name=<service>`.
 *
 * - Replica changes take effect after `startDelayMs` (up) or `stopDelayMs` (down).
 * - A Service has one target port, so a Deployment gets one: the first pod starts with `--port 0`,
 *   the rest reuse the port it got, each on another 127.0.0.x address.
 * - A pod is listed not-ready while starting (`conditions.ready: false`) and ready once
 *   `/v2/health/ready` answers 200. Stopping: not ready and terminating in the slice, then SIGTERM,
 *   then gone from the slice when the process has exited.
 * - A pod that exits on its own is replaced, as a ReplicaSet would.
 * - Deployment status (`replicas`, `readyReplicas`, `availableReplicas`, …) follows the pods.
 *
 * It reads and writes the store directly, so it keeps working while the fake's HTTP side is stopped,
 * as pods and controllers do while an API server restarts (their writes show up once it is back).
 */
import { randomBytes } from 'node:crypto';
import { DEPLOYMENTS, ENDPOINT_SLICES } from './resources.js';
import { nextLoopbackHost, PodProcess, probeUntilReady } from './pod-process.js';
import type { KubeObject, ObjectStore, StoreEvent } from './store.js';

export interface KubeletOptions {
  /** The built CLI, `dist/cli.js` (build it with `npx tsc -p .`). */
  cli: string;
  /** Wait between a replica increase and starting pods. Default 0. */
  startDelayMs?: number;
  /** Wait between a replica decrease and stopping pods. Default 0. */
  stopDelayMs?: number;
  /** Extra predictor arguments, e.g. `['--startup-delay', '300']`. */
  predictorArgs?: string[];
  /** Endpoints per EndpointSlice before another slice is made (the real controller uses 100). Default 100. */
  maxEndpointsPerSlice?: number;
  /** Probed until 200 before a pod is ready. Default `/v2/health/ready`. */
  readinessPath?: string;
  /** SIGTERM to SIGKILL. Default 5000. */
  terminationGraceMs?: number;
  /** Pod lifecycle and output lines, for debugging a test. */
  log?: (line: string) => void;
}

export interface Workload {
  namespace: string;
  deployment: string;
  /** The Service whose EndpointSlices list the pods. */
  service: string;
  /** Model the predictors serve. Default `iris`. */
  model?: string;
  /** EndpointSlice port name. Default `http`. */
  portName?: string;
}

export type PodState = 'starting' | 'ready' | 'terminating';

export interface PodView {
  name: string;
  host: string;
  port: number | undefined;
  pid: number | undefined;
  state: PodState;
}

interface Pod {
  name: string;
  host: string;
  port: number | undefined;
  state: PodState;
  process: PodProcess;
  startedAt: number;
}

interface Runtime {
  workload: Required<Workload>;
  /** spec.replicas as last seen (0 when the Deployment is absent). */
  desired: number;
  /** The one target port of the Deployment, known once its first pod listens. */
  port: number | undefined;
  pods: Pod[];
  sliceNames: string[];
  timer: NodeJS.Timeout | undefined;
  /** Starts that failed in a row (port taken on that address, crash on start). */
  failures: number;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function suffix(): string {
  return randomBytes(4).toString('hex').slice(0, 5);
}

export class FakeKubelet {
  private readonly runtimes = new Map<string, Runtime>();
  private readonly unsubscribe: () => void;
  private closed = false;
  private readonly opts: Required<Omit<KubeletOptions, 'log'>> & Pick<KubeletOptions, 'log'>;

  constructor(
    private readonly store: ObjectStore,
    options: KubeletOptions,
  ) {
    this.opts = {
      startDelayMs: 0,
      stopDelayMs: 0,
      predictorArgs: [],
      maxEndpointsPerSlice: 100,
      readinessPath: '/v2/health/ready',
      terminationGraceMs: 5000,
      ...options,
    };
    this.unsubscribe = store.subscribe((event) => this.onEvent(event));
  }

  /** Run the pods of a Deployment (present now or created later) and publish them for `service`. */
  manage(workload: Workload): void {
    const key = `${workload.namespace}/${workload.deployment}`;
    if (this.runtimes.has(key)) return;
    const rt: Runtime = {
      workload: { model: 'iris', portName: 'http', ...workload },
      desired: 0,
      port: undefined,
      pods: [],
      sliceNames: [],
      timer: undefined,
      failures: 0,
    };
    this.runtimes.set(key, rt);
    const deployment = this.store.tryGet(DEPLOYMENTS, workload.namespace, workload.deployment);
    this.publish(rt);
    if (deployment) this.desiredChanged(rt, replicasOf(deployment));
  }

  /** The pods of a managed Deployment, oldest first. */
  pods(namespace: string, deployment: string): PodView[] {
    const rt = this.runtimes.get(`${namespace}/${deployment}`);
    return (rt?.pods ?? []).map((p) => ({ name: p.name, host: p.host, port: p.port, pid: p.process.pid, state: p.state }));
  }

  /** Kill every process this kubelet started; resolves once all have exited. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    const exits: Promise<void>[] = [];
    for (const rt of this.runtimes.values()) {
      clearTimeout(rt.timer);
      for (const pod of rt.pods) {
        pod.process.kill();
        exits.push(pod.process.exited);
      }
    }
    await Promise.all(exits);
  }

  private onEvent(event: StoreEvent): void {
    if (this.closed || event.resource !== DEPLOYMENTS) return;
    const rt = this.runtimes.get(`${event.namespace}/${event.object.metadata.name}`);
    if (!rt) return;
    this.desiredChanged(rt, event.type === 'DELETED' ? 0 : replicasOf(event.object));
  }

  private desiredChanged(rt: Runtime, replicas: number): void {
    if (replicas === rt.desired) return;
    const growing = replicas > rt.desired;
    rt.desired = replicas;
    this.log(`${rt.workload.deployment}: replicas → ${replicas}`);
    clearTimeout(rt.timer);
    rt.timer = setTimeout(
      () => {
        rt.timer = undefined;
        this.reconcile(rt);
      },
      growing ? this.opts.startDelayMs : this.opts.stopDelayMs,
    );
  }

  private reconcile(rt: Runtime): void {
    if (this.closed || rt.timer !== undefined) return;
    const active = rt.pods.filter((p) => p.state !== 'terminating');
    if (active.length > rt.desired) {
      // Not-ready pods go first, then the newest.
      const order = (p: Pod): number => (p.state === 'starting' ? 0 : 1);
      const victims = [...active].sort((a, b) => order(a) - order(b) || b.startedAt - a.startedAt).slice(0, active.length - rt.desired);
      for (const pod of victims) this.stopPod(rt, pod);
    } else if (active.length < rt.desired) {
      if (rt.port === undefined) {
        // The first pod picks the port; the others start once it is known.
        if (active.length === 0) this.startPod(rt, 0);
      } else {
        for (let i = active.length; i < rt.desired; i++) this.startPod(rt, rt.port);
      }
    }
    this.publish(rt);
  }

  private startPod(rt: Runtime, port: number): void {
    const { workload } = rt;
    const host = nextLoopbackHost();
    const pod: Pod = {
      name: `${workload.deployment}-${suffix()}`,
      host,
      port: undefined,
      state: 'starting',
      startedAt: performance.now(),
      process: new PodProcess({
        cli: this.opts.cli,
        model: workload.model,
        host,
        port,
        args: this.opts.predictorArgs,
        onOutput: this.opts.log ? (line) => this.log(`${workload.deployment} ${host}: ${line}`) : undefined,
      }),
    };
    rt.pods.push(pod);
    this.log(`${workload.deployment}: starting pod ${pod.name} on ${host}:${port} (pid ${pod.process.pid})`);
    pod.process.listening.then(
      (bound) => {
        pod.port = bound;
        if (rt.port === undefined) rt.port = bound;
        this.publish(rt);
        this.reconcile(rt);
        void probeUntilReady(
          host,
          bound,
          this.opts.readinessPath,
          () => !this.closed && pod.state === 'starting' && pod.process.alive,
        ).then((ready) => {
          if (!ready) return;
          pod.state = 'ready';
          rt.failures = 0;
          this.log(`${workload.deployment}: pod ${pod.name} ready at ${host}:${bound}`);
          this.publish(rt);
        });
      },
      () => {},
    );
    void pod.process.exited.then(() => {
      rt.pods = rt.pods.filter((p) => p !== pod);
      if (this.closed) return;
      const expected = pod.state === 'terminating';
      this.log(`${workload.deployment}: pod ${pod.name} exited${expected ? '' : ' unexpectedly'}`);
      this.publish(rt);
      if (expected) return;
      // Replace it, backing off a little on repeated failures (100 ms, 200 ms … 2 s).
      rt.failures++;
      const delay = Math.min(100 * 2 ** Math.min(rt.failures - 1, 5), 2000);
      setTimeout(() => this.reconcile(rt), delay);
    });
  }

  private stopPod(rt: Runtime, pod: Pod): void {
    pod.state = 'terminating';
    this.log(`${rt.workload.deployment}: stopping pod ${pod.name}`);
    this.publish(rt);
    pod.process.terminate(this.opts.terminationGraceMs);
  }

  /** Write the EndpointSlices and the Deployment status from the pods. */
  private publish(rt: Runtime): void {
    if (this.closed) return;
    const { namespace, deployment, service, portName } = rt.workload;
    const endpoints = rt.pods
      .filter((p) => p.port !== undefined)
      .map((p) => ({
        addresses: [p.host],
        conditions: { ready: p.state === 'ready', serving: p.state !== 'starting', terminating: p.state === 'terminating' },
        targetRef: { kind: 'Pod', namespace, name: p.name },
      }));
    const chunks: (typeof endpoints)[] = [];
    for (let i = 0; i < endpoints.length; i += this.opts.maxEndpointsPerSlice)
      chunks.push(endpoints.slice(i, i + this.opts.maxEndpointsPerSlice));
    if (chunks.length === 0) chunks.push([]);
    chunks.forEach((chunk, i) => {
      rt.sliceNames[i] ??= `${service}-${suffix()}`;
      const slice: KubeObject = {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: rt.sliceNames[i],
          namespace,
          labels: { [SERVICE_NAME_LABEL]: service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
        },
        addressType: 'IPv4',
        endpoints: chunk,
        ports: rt.port === undefined ? [] : [{ name: portName, port: rt.port, protocol: 'TCP' }],
      };
      if (this.store.tryGet(ENDPOINT_SLICES, namespace, slice.metadata.name))
        this.store.update(ENDPOINT_SLICES, namespace, slice.metadata.name, slice);
      else this.store.create(ENDPOINT_SLICES, namespace, slice);
    });
    for (const extra of rt.sliceNames.splice(chunks.length)) {
      if (this.store.tryGet(ENDPOINT_SLICES, namespace, extra)) this.store.delete(ENDPOINT_SLICES, namespace, extra);
    }
    if (!this.store.tryGet(DEPLOYMENTS, namespace, deployment)) return;
    const replicas = rt.pods.filter((p) => p.state !== 'terminating').length;
    const ready = rt.pods.filter((p) => p.state === 'ready').length;
    this.store.mutate(
      DEPLOYMENTS,
      namespace,
      deployment,
      (d) => {
        d.status = {
          observedGeneration: d.metadata.generation,
          replicas,
          updatedReplicas: replicas,
          readyReplicas: ready,
          availableReplicas: ready,
          unavailableReplicas: Math.max(0, rt.desired - ready),
        };
      },
      'status',
    );
  }

  private log(line: string): void {
    this.opts.log?.(`kubelet: ${line}`);
  }
}

function replicasOf(deployment: KubeObject): number {
  const replicas = (deployment.spec as { replicas?: number } | undefined)?.replicas;
  return replicas ?? 1;
}
