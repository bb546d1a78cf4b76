/**
 * A local revision's readiness probe follows its protocol: `readinessProbe` (http | grpc), its default,
 * and the cross-field rules — grpc needs HTTP/2 (protocol h2c or h2), and neither h2c nor TLS can sit
 * behind the cleartext HTTP/1.1 queue-proxy. Problems name the field path.
 */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';

/** One service with one local revision carrying `fields` (YAML lines at the revision's indent). */
function config(fields: string): string {
  return `
services:
  - name: iris
    revisions:
      - name: iris-1
        backend: local
        command: node
${fields
  .split('\n')
  .filter((l) => l !== '')
  .map((l) => `        ${l}`)
  .join('\n')}
    traffic: [{ revision: iris-1, percent: 100 }]
`;
}

function problemsOf(text: string): string[] {
  try {
    parseConfigText(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('local revision readiness: valid', () => {
  it.each([
    { label: 'defaults: HTTP probe over HTTP/1.1', fields: '', wantProtocol: 'http1', wantProbe: 'http' },
    { label: 'h2c with the default HTTP probe (a GET over HTTP/2)', fields: 'protocol: h2c', wantProtocol: 'h2c', wantProbe: 'http' },
    { label: 'h2c with the gRPC health check', fields: 'protocol: h2c\nreadinessProbe: grpc', wantProtocol: 'h2c', wantProbe: 'grpc' },
    {
      label: 'h2 with the gRPC health check (over TLS)',
      fields: 'protocol: h2\nreadinessProbe: grpc',
      wantProtocol: 'h2',
      wantProbe: 'grpc',
    },
    { label: 'h2 with the default HTTP probe', fields: 'protocol: h2\ntls: {}', wantProtocol: 'h2', wantProbe: 'http' },
    { label: 'a tls block on http1 without a queue-proxy', fields: 'tls: {}', wantProtocol: 'http1', wantProbe: 'http' },
    { label: 'explicit http probe on http1', fields: 'readinessProbe: http', wantProtocol: 'http1', wantProbe: 'http' },
  ])('$label', ({ fields, wantProtocol, wantProbe }) => {
    const rev = parseConfigText(config(fields)).services[0]!.revisions[0]!;
    expect(rev).toMatchObject({ protocol: wantProtocol, readinessProbe: wantProbe });
  });
});

describe('local revision readiness: invalid configs name the field', () => {
  it.each([
    {
      label: 'grpc probe without an HTTP/2 protocol',
      fields: 'readinessProbe: grpc',
      want: 'services[0].revisions[0].readinessProbe: grpc is probed over HTTP/2 and needs protocol h2c or h2, got protocol http1',
    },
    {
      label: 'grpc probe with protocol auto (ALPN may pick HTTP/1.1)',
      fields: 'protocol: auto\ntls: {}\nreadinessProbe: grpc',
      want: 'services[0].revisions[0].readinessProbe: grpc is probed over HTTP/2 and needs protocol h2c or h2, got protocol auto',
    },
    {
      label: 'a tls block behind a queue-proxy',
      fields: 'tls: {}\nqueueProxy: true',
      want: 'services[0].revisions[0].queueProxy: the queue-proxy listens in cleartext HTTP/1.1, so a tls block needs queueProxy: false',
    },
    {
      label: 'h2 behind a queue-proxy',
      fields: 'protocol: h2\nqueueProxy: true',
      want: 'services[0].revisions[0].queueProxy: the queue-proxy listens in cleartext HTTP/1.1, so protocol h2 (HTTP/2 over TLS) needs queueProxy: false',
    },
    {
      label: 'h2c behind a queue-proxy',
      fields: 'protocol: h2c\nqueueProxy: true',
      want: 'services[0].revisions[0].queueProxy: the queue-proxy forwards HTTP/1.1 to its app, so protocol h2c needs queueProxy: false',
    },
    { label: 'unknown probe kind', fields: 'readinessProbe: tcp', want: 'services[0].revisions[0].readinessProbe: ' },
    { label: 'probe kind not a string', fields: 'readinessProbe: {grpc: true}', want: 'services[0].revisions[0].readinessProbe: ' },
  ])('$label', ({ fields, want }) => {
    const problems = problemsOf(config(fields));
    expect(
      problems.some((p) => p.startsWith(want)),
      JSON.stringify(problems),
    ).toBe(true);
  });
});
