/**
 * A Kubernetes revision's protocol as its Service port declares it, when the config does not say:
 * the port's `appProtocol` first, else its name, as KServe's standard (raw) mode and Knative name
 * gRPC ports. Pure; table-tested in test/port-protocol.test.ts.
 *
 * | appProtocol                       | name                                   | protocol |
 * | --------------------------------- | -------------------------------------- | -------- |
 * | `kubernetes.io/h2c`, `h2c`, `grpc` | any                                   | h2c      |
 * | `http`, `kubernetes.io/ws`        | any                                    | http1    |
 * | absent or another value           | `h2c`, `grpc`, `http2`, or one of them + `-…` | h2c |
 * | absent or another value           | anything else                          | none (http1) |
 *
 * A TLS appProtocol (`https`, `kubernetes.io/wss`) gives none: TLS to a pod takes a `tls:` block
 * (which CA, which name), and that only the config can give.
 */
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { PortChoice } from './endpoint-slices.js';

export type PortProtocol = 'h2c' | 'http1';

const BY_APP_PROTOCOL: ReadonlyMap<string, PortProtocol> = new Map([
  ['kubernetes.io/h2c', 'h2c'],
  ['h2c', 'h2c'],
  ['grpc', 'h2c'],
  ['http', 'http1'],
  ['kubernetes.io/ws', 'http1'],
]);

/** `grpc`, `grpc-predictor`, `h2c`, `http2-web`; not `grpcweb` or `my-grpc`. */
const H2C_NAME = /^(grpc|h2c|http2)(-|$)/;

/** The protocol a Service port declares; undefined when it declares none the gateway can use alone. */
export function portProtocol(port: Pick<V1ServicePort, 'name' | 'appProtocol'>): PortProtocol | undefined {
  const byAppProtocol = port.appProtocol === undefined ? undefined : BY_APP_PROTOCOL.get(port.appProtocol.toLowerCase());
  if (byAppProtocol !== undefined) return byAppProtocol;
  return H2C_NAME.test(port.name ?? '') ? 'h2c' : undefined;
}

/**
 * The Service port a revision's requests go to, chosen as its EndpointSlice port is
 * (endpoint-slices.ts): with `port`, the one whose targetPort is that pod port; else the one named
 * `portName`, or a single unnamed port.
 */
export function servicePort(service: V1Service, choice: PortChoice): V1ServicePort | undefined {
  const ports = service.spec?.ports ?? [];
  if (choice.port !== undefined) return ports.find((p) => (p.targetPort ?? p.port) === choice.port);
  return ports.find((p) => p.name === choice.portName) ?? (ports.length === 1 && (ports[0]!.name ?? '') === '' ? ports[0] : undefined);
}
