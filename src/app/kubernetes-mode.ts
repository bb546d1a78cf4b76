/**
 * Kubernetes mode, wired in one place: the scaler driver for `backend: kubernetes` revisions, Lease
 * leader election, peer discovery and the leader's peer-stats collection, and the API server's
 * reachability as a condition the admin API shows. Every replica holds, forwards and may activate a
 * revision at zero; only the Lease holder makes scale decisions, on the sum of every peer's stats.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { PeerStatsCollector } from '../autoscaler/peer-stats.js';
import type { Config } from '../config/load.js';
import { kubernetesSettingsSchema, type KubernetesSettings } from '../config/schema.js';
import type { RevisionRuntime } from '../gateway/revision.js';
import type { Logger } from '../log.js';
import { KubernetesDriver } from '../kube/deployment-driver.js';
import { ApiHealth, combineHealth, type ApiHealthView } from '../kube/api-health.js';
import { resolveBackoff, type BackoffPolicy } from '../kube/backoff.js';
import type { ConfigMapConfigSource } from '../kube/configmap-source.js';
import { LeaderElector } from '../kube/leader-election.js';
import { PeerDiscovery } from '../kube/peers.js';
import { ServiceProtocols } from '../kube/service-protocols.js';

export interface KubernetesModeOptions {
  kubeConfig: KubeConfig;
  /** The loaded config: its `kubernetes:` block (defaults when absent). */
  config: Config;
  /** The ConfigMap the config comes from, if it does: its health counts, its namespace is a default. */
  source?: ConfigMapConfigSource;
  /** Every revision runtime (the gateway's); read by the peer collector while leading, never before start returns. */
  revisions: () => Iterable<RevisionRuntime>;
  /** This gateway's admin port: the peers' port unless `kubernetes.peers.port` says otherwise. */
  adminPort: number;
  /** Admin token, sent to peers. */
  token?: string;
  logger: Logger;
  /** POD_NAME (identity), POD_NAMESPACE, POD_IP (downward API). Default process.env. */
  env?: Record<string, string | undefined>;
  /** Informer restarts and patch retries. Default 200 ms doubling to 30 s, jitter 0.5. */
  backoff?: Partial<BackoffPolicy>;
}

/** What `/readyz` and the service status show under `conditions.kubernetes`. */
export interface KubernetesCondition {
  apiReachable: boolean;
  /** ISO 8601: since when apiReachable has had its current value. */
  since: string | null;
  lastError?: string;
  /** This replica's leader-election identity. */
  identity: string;
  /** Whether this replica makes scale decisions now. */
  leading: boolean;
  /** The Lease holder last seen ('' when released), null before the first read or without election. */
  leader: string | null;
}

export interface KubernetesMode {
  driver: KubernetesDriver;
  /** Fills in Kubernetes revisions' protocol from their Service port; wraps the config source. */
  protocols: ServiceProtocols;
  /** Undefined when `leaderElection.enabled` is false. */
  elector: LeaderElector | undefined;
  peers: PeerDiscovery | undefined;
  collector: PeerStatsCollector | undefined;
  source: ConfigMapConfigSource | undefined;
  identity: string;
  settings: KubernetesSettings;
  /** Whether this replica decides (always true without leader election). */
  isLeader: () => boolean;
  /** The API server as every Kubernetes component here sees it, combined. */
  health(): ApiHealthView;
  /** A function, not a method: the admin API is handed it alone. */
  conditions: () => { kubernetes: KubernetesCondition };
  /** Stop leading (releasing the Lease), collecting, discovering and scaling. Deployments are left as they are. */
  close(): Promise<void>;
}

/**
 * A KubeConfig from `file`, or client-node's default chain: env KUBECONFIG, ~/.kube/config, then
 * the pod's service account (in-cluster).
 */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

/** This replica's identity among the candidates: the pod name, else the host name and a random suffix. */
function replicaIdentity(env: Record<string, string | undefined>): string {
  return env.POD_NAME || `${hostname()}-${randomBytes(3).toString('hex')}`;
}

/**
 * Start the driver and, unless `leaderElection.enabled` is false, peer discovery and the election;
 * while this replica leads, it reads every peer's `/api/v1/stats` once a second.
 *
 * @example
 * const kube = startKubernetesMode({ kubeConfig, config, source, revisions: () => gateway.revisions(), adminPort: 8081, logger });
 * const loop = new AutoscalerLoop({ ..., isLeader: kube.isLeader });
 */
export function startKubernetesMode(options: KubernetesModeOptions): KubernetesMode {
  const env = options.env ?? process.env;
  const settings = kubernetesSettingsSchema.parse(options.config.kubernetes ?? {});
  const log = options.logger.child({ component: 'kubernetes' });
  const podNamespace = env.POD_NAMESPACE || undefined;
  const ownNamespace = podNamespace ?? options.source?.namespace ?? 'default';
  const identity = replicaIdentity(env);
  const backoff = resolveBackoff(options.backoff, 'kubernetes mode');
  const health = new ApiHealth();

  const revisionNamespace = settings.namespace ?? podNamespace ?? 'default';
  const protocols = new ServiceProtocols({ kubeConfig: options.kubeConfig, namespace: revisionNamespace, logger: log });
  const driver = new KubernetesDriver({
    kubeConfig: options.kubeConfig,
    namespace: revisionNamespace,
    logger: options.logger.child({ component: 'kubernetes-driver' }),
    backoff,
  });

  let peers: PeerDiscovery | undefined;
  let collector: PeerStatsCollector | undefined;
  let elector: LeaderElector | undefined;
  if (settings.leaderElection.enabled) {
    const discovery = new PeerDiscovery({
      kubeConfig: options.kubeConfig,
      namespace: settings.peers.namespace ?? ownNamespace,
      service: settings.peers.service,
      port: settings.peers.port ?? options.adminPort,
      self: { name: env.POD_NAME || undefined, ip: env.POD_IP || undefined },
      backoff,
      watchTimeoutSeconds: 300,
      health,
      log: log.child({ peers: settings.peers.service }),
    });
    const stats = new PeerStatsCollector({
      peers: () => discovery.peers(),
      revisions: options.revisions,
      token: options.token,
      logger: log.child({ component: 'peer-stats' }),
    });
    peers = discovery;
    collector = stats;
    elector = new LeaderElector({
      kubeConfig: options.kubeConfig,
      namespace: settings.leaderElection.namespace ?? ownNamespace,
      name: settings.leaderElection.leaseName,
      identity,
      leaseDurationSeconds: settings.leaderElection.leaseDurationSeconds,
      logger: log,
      onStartedLeading: () => stats.start(),
      onStoppedLeading: () => stats.stop(),
      onNewLeader: (holder) => log.info({ leader: holder }, holder === '' ? 'the leader released the lease' : `leader: ${holder}`),
    });
    discovery.start();
    elector.start();
  }
  const lead = elector;
  const isLeader = lead ? () => lead.isLeader() : () => true;

  const combined = (): ApiHealthView => {
    const views = [driver.health(), health.view()];
    if (options.source) views.push(options.source.apiHealth());
    return combineHealth(views);
  };

  return {
    driver,
    protocols,
    elector,
    peers,
    collector,
    source: options.source,
    identity,
    settings,
    isLeader,
    health: combined,
    conditions() {
      const h = combined();
      const condition: KubernetesCondition = {
        apiReachable: h.apiReachable,
        since: h.since === undefined ? null : new Date(h.since).toISOString(),
        identity,
        leading: isLeader(),
        leader: lead ? (lead.leader() ?? null) : identity,
      };
      if (h.lastError !== undefined) condition.lastError = h.lastError;
      return { kubernetes: condition };
    },
    async close() {
      collector?.stop();
      await elector?.stop();
      await peers?.stop();
      await driver.close();
    },
  };
}
