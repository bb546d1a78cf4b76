/**
 * The configuration file's shape, validated with zod. One field per line, each with its default.
 * Cross-field rules (traffic sums, unique names) live in load.ts, annotation ranges in scaling.ts.
 */
import { z } from 'zod';
import { tracingSchema } from './tracing.js';

const name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits and "-"')
  .max(63);

/** DNS-1035 label (Services, Knative's tags): starts with a letter, so `<tag>-<host>` stays a valid name. */
const dns1035 = z
  .string()
  .max(63)
  .regex(
    /^[a-z]([-a-z0-9]*[a-z0-9])?$/,
    'must be a DNS-1035 label: a lowercase letter, then lowercase letters, digits or "-", not ending in "-"',
  );

/** DNS-1123 subdomain: what Deployment names may be. */
const dnsSubdomain = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be a DNS subdomain: lowercase letters, digits, "-" and "."',
  );

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[^:\s]+)?:\d{1,5}$/;
const hostPort = z.string().regex(HOST_PORT, 'must be HOST:PORT');

/**
 * TLS to a revision's endpoints. TLS is used when `protocol` is h2, when this block is present, or
 * (static) when the URL is `https:`; `protocol: h2c` with this block, or an `http:` URL with either,
 * is refused. Files are read when the config is loaded, relative to the config file.
 */
const upstreamTls = z
  .object({
    /** PEM CA certificates the endpoint's certificate must chain to; default the system's CAs. */
    caFile: z.string().min(1).optional(),
    /** The name the endpoint's certificate must carry, also sent as SNI; default the endpoint's host (an IP gets no SNI). */
    serverName: z.string().min(1).max(253).optional(),
    /** PEM client certificate (chain) for endpoints that ask for one (mTLS); needs keyFile. */
    certFile: z.string().min(1).optional(),
    /** PEM private key of certFile, unencrypted. */
    keyFile: z.string().min(1).optional(),
  })
  .strict();

const revisionCommon = {
  /** Revision name, unique within its service. */
  name,
  /**
   * How the gateway speaks to the endpoints: `http1` (HTTP/1.1), `h2c` (HTTP/2 in cleartext, prior
   * knowledge), `h2` (HTTP/2 over TLS), `auto` (over TLS: HTTP/2 or HTTP/1.1 as ALPN agrees; in
   * cleartext: HTTP/1.1). Default http1.
   */
  protocol: z.enum(['http1', 'h2c', 'h2', 'auto']).default('http1'),
  /** TLS to the endpoints (CA, name to verify, client certificate); see upstreamTls for when TLS is used. */
  tls: upstreamTls.optional(),
  /** Max requests in flight per endpoint; 0 = unbounded (Knative's containerConcurrency). */
  containerConcurrency: z.number().int().min(0).max(1000).default(0),
  /** Deadline for one request, held time included (Knative's timeoutSeconds). */
  timeoutSeconds: z.number().positive().max(3600).default(300),
  /** How long a held request may wait for a ready endpoint before a 504. */
  activationTimeoutSeconds: z.number().positive().max(3600).default(120),
  /** Max requests held for this revision; beyond it a 503 with Retry-After. */
  queueDepth: z.number().int().min(0).max(1_000_000).default(10_000),
  /**
   * Connections the gateway keeps open to one endpoint, idle and busy; requests beyond wait for one.
   * For HTTP/2 these are sessions that take new streams, opened while every one is full.
   */
  maxConnectionsPerEndpoint: z.number().int().min(1).max(100_000).default(1_000),
  /**
   * Connections opened to one endpoint and not yet answered on: what can sit in its listen backlog
   * at once (Node's is 511), so a burst released at a cold start never overflows it.
   */
  maxNewConnectionsPerEndpoint: z.number().int().min(1).max(100_000).default(100),
  /** Knative `autoscaling.knative.dev/*` annotations. */
  annotations: z.record(z.string(), z.string()).default({}),
  /**
   * Where the autoscaler's numbers come from: `gateway` (its own counts) or `queue-proxy` (also each
   * endpoint's queue-proxy `/api/v1/stats`, adding the traffic that bypassed the gateways).
   */
  metricsSource: z.enum(['gateway', 'queue-proxy']).default('gateway'),
  /** Admin port of each endpoint's queue-proxy (same host as the endpoint). */
  queueProxyAdminPort: z.number().int().min(1).max(65_535).default(9091),
};

/** A revision run as local child processes; the port arrives as env PORT (and `${PORT}` in args). */
const localRevision = z
  .object({
    ...revisionCommon,
    backend: z.literal('local'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    /** Working directory of the process, relative to the config file; default the gateway's. */
    cwd: z.string().optional(),
    /** Path probed for readiness (200–399 means ready). */
    readinessPath: z.string().startsWith('/').default('/'),
    /**
     * How readiness and liveness are probed, always the way requests go (over TLS with the tls
     * block's CA, server name and client certificate when the revision uses TLS): `http` GETs
     * readinessPath in the revision's protocol (HTTP/1.1; HTTP/2 for h2c and h2; HTTP/1.1 over TLS
     * for auto); `grpc` calls the gRPC health service (`grpc.health.v1.Health/Check`, service "")
     * over HTTP/2, ready when it answers SERVING — for gRPC servers, which answer nothing at a plain
     * path. `grpc` needs protocol h2c or h2. Default http.
     */
    readinessProbe: z.enum(['http', 'grpc']).default('http'),
    /** A replica not ready this long after its start is killed, and the revision is Failed (ReadinessTimeout). */
    readinessTimeoutSeconds: z.number().positive().max(3600).default(300),
    /**
     * Starts in a row that fail (exit before ready, or soon after) before the revision is Failed and
     * its requests are answered 503 revision_failed at once. Restarts go on with backoff.
     */
    startFailureThreshold: z.number().int().min(1).max(100).default(3),
    /** How long scale-down waits for in-flight requests before SIGTERM. */
    drainTimeoutSeconds: z.number().min(0).max(3600).default(30),
    /** Time between SIGTERM and SIGKILL. */
    terminationGraceSeconds: z.number().min(0).max(3600).default(10),
    /**
     * Run each replica behind its own `sluice queue-proxy`, as a Knative pod: the process gets a
     * private PORT, the queue-proxy takes the replica's port (containerConcurrency enforced there too,
     * readiness and per-second stats on its admin port). Pair with `metricsSource: queue-proxy` to
     * count requests that reach replicas without passing the gateway. Default false.
     */
    queueProxy: z.boolean().default(false),
  })
  .strict();

/** A revision whose endpoints are fixed URLs; it is never scaled. */
const staticRevision = z
  .object({
    ...revisionCommon,
    backend: z.literal('static'),
    urls: z.array(z.url({ protocol: /^https?$/ })).min(1),
  })
  .strict();

/**
 * A revision run as a Kubernetes Deployment, scaled through its scale subresource, behind a Service
 * whose EndpointSlices list the ready pods the gateway sends requests to:
 * `{ name: iris-00002, backend: kubernetes, deployment: iris-00002-predictor, service: iris-00002-predictor, portName: http }`.
 */
export const kubernetesRevisionSchema = z
  .object({
    ...revisionCommon,
    backend: z.literal('kubernetes'),
    /** Namespace of the Deployment and the Service; default the gateway's namespace. */
    namespace: name.optional(),
    /** Deployment whose `/scale` subresource the gateway patches. */
    deployment: dnsSubdomain,
    /** Service whose EndpointSlices (label `kubernetes.io/service-name`) list the ready pods. */
    service: dns1035,
    /** Pod port requests go to; when set it wins over portName. */
    port: z.number().int().min(1).max(65535).optional(),
    /** Name of the EndpointSlice port requests go to (a single unnamed port is taken too). */
    portName: name.default('http'),
  })
  .strict();

const revisionSchema = z.discriminatedUnion('backend', [localRevision, staticRevision, kubernetesRevisionSchema]);

export const trafficTargetSchema = z
  .object({
    revision: name,
    percent: z.number().int().min(0).max(100),
    /** Reachable by header `Sluice-Tag: <tag>` and by host `<tag>-<first label>.<rest>` whatever its percent. */
    tag: dns1035.optional(),
  })
  .strict();
const trafficTarget = trafficTargetSchema;

/** Sticky sessions: a key from a header or a cookie pins a client to a revision across re-weightings. */
const stickiness = z
  .object({
    /** Request header holding the key (e.g. `x-user-id`). */
    header: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a header name')
      .optional(),
    /** Cookie holding the key; the gateway sets it when the client has none. */
    cookie: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a cookie name')
      .optional(),
    /** Cookie lifetime. */
    cookieMaxAgeSeconds: z.number().int().positive().default(86_400),
  })
  .strict()
  .refine((s) => (s.header === undefined) !== (s.cookie === undefined), { message: 'set exactly one of header or cookie' });

const serviceSchema = z
  .object({
    name,
    match: z
      .object({
        /** Host header values (port ignored), exact or `*.suffix`. */
        hosts: z.array(z.string().min(1)).default([]),
        /** Path prefix, matched on segment boundaries. */
        pathPrefix: z.string().startsWith('/').optional(),
        /** KServe V2 model name: matches `/v2/models/{model}[/...]`. */
        model: z.string().min(1).optional(),
      })
      .strict()
      .default({ hosts: [] }),
    revisions: z.array(revisionSchema).min(1),
    traffic: z.array(trafficTarget).min(1),
    stickiness: stickiness.optional(),
  })
  .strict();

/**
 * Kubernetes mode (`sluice gateway --configmap`, or any `backend: kubernetes` revision): where
 * revisions live, which replica decides, where the others are. Read at start; a change takes a
 * restart of the gateway.
 */
export const kubernetesSettingsSchema = z
  .object({
    /** Namespace of `backend: kubernetes` revisions that name none. Default: env POD_NAMESPACE, else "default". */
    namespace: name.optional(),
    /** One replica, the holder of a coordination.k8s.io Lease, makes scale decisions. */
    leaderElection: z
      .object({
        /** false: this replica always decides (run a single replica then). Default true. */
        enabled: z.boolean().default(true),
        /** Namespace of the Lease. Default: env POD_NAMESPACE, else the ConfigMap's namespace, else "default". */
        namespace: name.optional(),
        /** Lease name. Default sluice-leader. */
        leaseName: name.default('sluice-leader'),
        /** A leader that stops renewing is replaced this long after its last renewal (plus one retry period). Default 15. */
        leaseDurationSeconds: z.number().int().min(2).max(3600).default(15),
      })
      .strict()
      .prefault({}),
    /** The other replicas, whose per-second counts the leader adds to its own. */
    peers: z
      .object({
        /** Headless Service whose EndpointSlices list the gateway replicas. Default sluice-peers. */
        service: dns1035.default('sluice-peers'),
        /** Its namespace. Default: env POD_NAMESPACE, else the ConfigMap's namespace, else "default". */
        namespace: name.optional(),
        /** Admin port of the replicas. Default: this gateway's admin port (every replica runs the same config). */
        port: z.number().int().min(1).max(65_535).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** A certificate name: an exact host name or a `*.` wildcard over one label; compared in lower case. */
const certificateName = z
  .string()
  .regex(
    /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\.?$/i,
    'must be a host name, or "*." and a host name (a wildcard over one label)',
  )
  .transform((n) => n.toLowerCase().replace(/\.$/, ''));

/**
 * One certificate of the TLS listener, chosen by SNI: PEM files, or (Kubernetes mode) a
 * `kubernetes.io/tls` Secret's `tls.crt` and `tls.key`, read and watched through the API.
 */
const tlsCertificate = z
  .object({
    /** PEM certificate, leaf first, then intermediates; relative to the config file. */
    certFile: z.string().min(1).optional(),
    /** PEM private key of the leaf (unencrypted); relative to the config file. */
    keyFile: z.string().min(1).optional(),
    /** In place of the files: a Secret, `NAME` or `NAMESPACE/NAME` (default namespace: `kubernetes.namespace`, env POD_NAMESPACE, "default"). */
    secret: z
      .string()
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/, 'must be NAME or NAMESPACE/NAME of a Secret')
      .optional(),
    /** Names served with it (exact, or `*.` wildcards); default: the certificate's DNS subjectAltNames, else its CN. */
    names: z.array(certificateName).min(1).optional(),
    /** Served to clients that send no SNI or a name no certificate has. Default: the first certificate. */
    default: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.secret !== undefined) {
      if (c.certFile !== undefined || c.keyFile !== undefined)
        ctx.addIssue({ code: 'custom', message: 'give secret, or certFile and keyFile, not both' });
      return;
    }
    for (const field of ['certFile', 'keyFile'] as const)
      if (c[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'required (or give secret)' });
  });

/**
 * TLS termination on the data port: its own listener beside the cleartext one, HTTP/1.1 (and h2
 * where the gateway serves it) chosen by ALPN. Certificates are re-read when their files change.
 */
const tlsSettingsSchema = z
  .object({
    /** TLS listener address, HOST:PORT. A change takes a restart; certificates and the rest apply at once. */
    listen: hostPort.default('0.0.0.0:8443'),
    certificates: z.array(tlsCertificate).min(1),
    /** Oldest protocol version accepted. */
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    /** OpenSSL cipher list (TLS 1.2 suites, and TLS 1.3 ones by their TLS_ names); default Node's. */
    ciphers: z.string().min(1).optional(),
    /** ALPN protocols offered, in order of preference; h2 only where the gateway serves HTTP/2. */
    alpn: z
      .array(z.enum(['h2', 'http/1.1']))
      .min(1)
      .default(['h2', 'http/1.1']),
    /** A handshake not done in this time is cut. */
    handshakeTimeoutSeconds: z.number().positive().max(300).default(10),
  })
  .strict();

/**
 * HTTP/2 on the data port: h2c with prior knowledge on the cleartext port (and h2 over TLS by ALPN),
 * with the limits every client session gets. Read at start; a change takes a restart.
 */
const http2Settings = z
  .object({
    /** Serve h2c with prior knowledge on the cleartext data port (a connection that opens with the HTTP/2 preface). Default true. */
    h2c: z.boolean().default(true),
    /** Streams one client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused. Default 250. */
    maxConcurrentStreams: z.number().int().min(1).max(10_000).default(250),
    /** Largest request header list in bytes, as HTTP/2 counts it (name + value + 32 per field); a larger one gets a stream reset. Default 16384. */
    maxHeaderListSize: z.number().int().min(1024).max(1_048_576).default(16_384),
    /** A connection with no open stream for this long is closed with GOAWAY. Default 65. */
    idleTimeoutSeconds: z.number().positive().max(3600).default(65),
    /** Streams a client may reset within any second; one more closes its connection with GOAWAY ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487). Default 100. */
    maxResetsPerSecond: z.number().int().min(1).max(100_000).default(100),
    /** Open WebSockets over HTTP/2 (RFC 8441 extended CONNECT; SETTINGS_ENABLE_CONNECT_PROTOCOL advertised). Default true. */
    websockets: z.boolean().default(true),
  })
  .strict();

export const configSchema = z
  .object({
    /** Data port address, HOST:PORT, or `off` for no cleartext listener (with a `tls` block); the CLI's --listen wins. */
    listen: z
      .string()
      .refine((v) => v === 'off' || HOST_PORT.test(v), 'must be HOST:PORT or off')
      .default('0.0.0.0:8080'),
    /** TLS on the data port; none when absent. */
    tls: tlsSettingsSchema.optional(),
    /** Admin address, HOST:PORT; loopback unless an admin token is set. */
    admin: hostPort.default('127.0.0.1:8081'),
    /** Knative config-autoscaler keys (kebab-case) as cluster defaults. */
    autoscaler: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    /** HTTP/2 on the data port; all defaults when absent. */
    http2: http2Settings.prefault({}),
    services: z.array(serviceSchema).default([]),
    /** Kubernetes mode settings; all defaults when absent. */
    kubernetes: kubernetesSettingsSchema.optional(),
    /** OpenTelemetry tracing (src/config/tracing.ts); off when absent unless OTEL_* names an endpoint. Read at start. */
    tracing: tracingSchema.optional(),
  })
  .strict();

export type RawConfig = z.infer<typeof configSchema>;
export type RawService = RawConfig['services'][number];
export type RawRevision = z.infer<typeof revisionSchema>;
export type TrafficTarget = z.infer<typeof trafficTargetSchema>;
export type Stickiness = NonNullable<RawService['stickiness']>;
export type LocalRevision = Extract<RawRevision, { backend: 'local' }>;
export type KubernetesRevision = Extract<RawRevision, { backend: 'kubernetes' }>;
export type KubernetesSettings = z.infer<typeof kubernetesSettingsSchema>;
export type TlsSettings = z.infer<typeof tlsSettingsSchema>;
export type Http2Settings = z.infer<typeof http2Settings>;
