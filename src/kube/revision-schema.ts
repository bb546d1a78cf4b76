/**
 * The `backend: kubernetes` revision: a Deployment scaled through its scale subresource, and a
 * Service whose EndpointSlices list the ready pods the gateway sends requests to.
 *
 * ```yaml
 * - name: iris-00002
 *   backend: kubernetes
 *   deployment: iris-00002-predictor
 *   service: iris-00002-predictor
 *   portName: http        # or port: 8080
 * ```
 *
 * The common revision fields are repeated here rather than imported so that config/schema.ts can
 * import this module without a cycle; `kubernetesRevisionFields` is the backend-specific part alone.
 */
import { z } from 'zod';

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits and "-"')
  .max(63);

/** DNS-1035 label: what Service names must be (starts with a letter). */
const dns1035 = z
  .string()
  .max(63)
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1035 label: a lowercase letter, then lowercase letters, digits or "-", not ending in "-"');

/** DNS-1123 subdomain: what Deployment names may be. */
const dnsSubdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS subdomain: lowercase letters, digits, "-" and "."');

export const kubernetesRevisionFields = {
  backend: z.literal('kubernetes'),
  /** Namespace of the Deployment and the Service; default the gateway's namespace. */
  namespace: dnsLabel.optional(),
  /** Deployment whose `/scale` subresource the gateway patches. */
  deployment: dnsSubdomain,
  /** Service whose EndpointSlices (label `kubernetes.io/service-name`) list the ready pods. */
  service: dns1035,
  /** Pod port requests go to; when set it wins over portName. */
  port: z.number().int().min(1).max(65535).optional(),
  /** Name of the EndpointSlice port requests go to (a single unnamed port is taken too). */
  portName: dnsLabel.default('http'),
};

export const kubernetesRevisionSchema = z
  .object({
    /** Revision name, unique within its service. */
    name: dnsLabel,
    /** Max requests in flight per endpoint; 0 = unbounded (Knative's containerConcurrency). */
    containerConcurrency: z.number().int().min(0).max(1000).default(0),
    /** Deadline for one request, held time included (Knative's timeoutSeconds). */
    timeoutSeconds: z.number().positive().max(3600).default(300),
    /** How long a held request may wait for a ready endpoint before a 504. */
    activationTimeoutSeconds: z.number().positive().max(3600).default(120),
    /** Max requests held for this revision; beyond it a 503 with Retry-After. */
    queueDepth: z.number().int().min(0).max(1_000_000).default(10_000),
    /** Knative `autoscaling.knative.dev/*` annotations. */
    annotations: z.record(z.string(), z.string()).default({}),
    ...kubernetesRevisionFields,
  })
  .strict();

export type KubernetesRevision = z.infer<typeof kubernetesRevisionSchema>;
