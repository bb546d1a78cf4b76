/**
 * A revision's `protocol` and upstream `tls:` block (src/config/upstream-tls.ts): defaults, the
 * contradictions refused by field, the PEM files read relative to the config file and checked at
 * load. Certificates are made with the openssl CLI (test/support/certs.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, readConfigFile } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { certFolder, type CertFolder, type Pem } from './support/certs.js';

let certs: CertFolder;
let ca: Pem;
let client: Pem;
let other: Pem;

beforeAll(() => {
  certs = certFolder();
  ca = certs.ca('upstream-ca');
  client = certs.issue(ca, 'gateway', { client: true });
  other = certs.issue(ca, 'someone-else', { client: true });
  writeFileSync(join(certs.dir, 'garbage.pem'), 'not a certificate\n');
  writeFileSync(join(certs.dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
});
afterAll(() => certs.remove());

type Revision = Record<string, unknown>;

/** One service with one revision `r` (static by default). */
function doc(revision: Revision): unknown {
  return {
    services: [
      {
        name: 'iris',
        // A key given as undefined is left out (a kubernetes or local revision has no urls).
        revisions: [
          Object.fromEntries(
            Object.entries({ name: 'r', backend: 'static', urls: ['http://127.0.0.1:9000'], ...revision }).filter(
              ([, v]) => v !== undefined,
            ),
          ),
        ],
        traffic: [{ revision: 'r', percent: 100 }],
      },
    ],
  };
}

function problems(revision: Revision): string[] {
  try {
    parseConfig(doc(revision));
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const AT = 'services[0].revisions[0]';

describe('protocol and tls: valid revisions', () => {
  it('protocol defaults to http1 and there is no tls block', () => {
    const rev = parseConfig(doc({})).services[0]!.revisions[0]!;
    expect(rev.protocol).toBe('http1');
    expect(rev.tls).toBeUndefined();
    expect(rev.upstreamTls).toBeUndefined();
  });

  it.each([
    { label: 'h2c to an http URL', revision: { protocol: 'h2c' } },
    { label: 'h2 to an https URL', revision: { protocol: 'h2', urls: ['https://iris.internal:8443'] } },
    { label: 'auto to an https URL with a CA', revision: { protocol: 'auto', urls: ['https://iris.internal'], tls: { caFile: 'CA' } } },
    { label: 'auto in cleartext', revision: { protocol: 'auto' } },
    {
      label: 'http1 over TLS by a tls block (kubernetes)',
      revision: { backend: 'kubernetes', deployment: 'd', service: 's', urls: undefined, tls: {} },
    },
    {
      label: 'h2 on a kubernetes revision without a tls block',
      revision: { backend: 'kubernetes', deployment: 'd', service: 's', urls: undefined, protocol: 'h2' },
    },
    { label: 'h2c on a local revision', revision: { backend: 'local', command: 'node', urls: undefined, protocol: 'h2c' } },
  ])('$label', ({ revision }) => {
    const tls = (revision as { tls?: { caFile?: string } }).tls;
    if (tls?.caFile === 'CA') tls.caFile = ca.certFile;
    expect(problems(revision)).toEqual([]);
  });

  it('reads the files: CA, client certificate and key, and keeps the server name', () => {
    const rev = parseConfig(
      doc({
        protocol: 'h2',
        urls: ['https://10.0.0.7:8443'],
        tls: { caFile: ca.certFile, serverName: 'iris.test', certFile: client.certFile, keyFile: client.keyFile },
      }),
    ).services[0]!.revisions[0]!;
    expect(rev.upstreamTls).toEqual({ ca: ca.cert, serverName: 'iris.test', cert: client.cert, key: client.key });
  });

  it('resolves relative paths against the config file', async () => {
    const dir = join(certs.dir, 'conf');
    mkdirSync(join(dir, 'pki'), { recursive: true });
    writeFileSync(join(dir, 'pki', 'ca.pem'), ca.cert);
    const file = join(dir, 'sluice.yaml');
    writeFileSync(
      file,
      `services:
  - name: iris
    revisions:
      - { name: r, backend: static, protocol: h2, urls: ["https://127.0.0.1:8443"], tls: { caFile: pki/ca.pem } }
    traffic: [{ revision: r, percent: 100 }]
`,
    );
    const config = await readConfigFile(file);
    expect(config.services[0]!.revisions[0]!.upstreamTls).toEqual({ ca: ca.cert });
  });
});

describe('protocol and tls: invalid revisions name the field', () => {
  it.each([
    {
      label: 'protocol h2c with a tls block',
      revision: { protocol: 'h2c', tls: {} },
      want: `${AT}.tls: protocol h2c is HTTP/2 in cleartext`,
    },
    {
      label: 'protocol h2c to an https URL',
      revision: { protocol: 'h2c', urls: ['https://x:1'] },
      want: `${AT}.urls[0]: an https URL contradicts protocol h2c`,
    },
    { label: 'protocol h2 to an http URL', revision: { protocol: 'h2' }, want: `${AT}.urls[0]: an http URL is cleartext, but protocol h2` },
    {
      label: 'a tls block with an http URL',
      revision: { urls: ['https://a:1', 'http://b:2'], tls: {} },
      want: `${AT}.urls[1]: an http URL is cleartext, but the tls block asks for TLS`,
    },
    { label: 'an unknown protocol', revision: { protocol: 'h3' }, want: `${AT}.protocol: ` },
    {
      label: 'an unknown key in the tls block',
      revision: { urls: ['https://a:1'], tls: { ca: 'x' } },
      want: `${AT}.tls: Unrecognized key: "ca"`,
    },
    {
      label: 'certFile without keyFile',
      revision: { urls: ['https://a:1'], tls: { certFile: 'CLIENT_CERT' } },
      want: `${AT}.tls.keyFile: certFile needs`,
    },
    {
      label: 'keyFile without certFile',
      revision: { urls: ['https://a:1'], tls: { keyFile: 'CLIENT_KEY' } },
      want: `${AT}.tls.certFile: keyFile needs`,
    },
    {
      label: 'a caFile that cannot be read',
      revision: { urls: ['https://a:1'], tls: { caFile: '/nonexistent/ca.pem' } },
      want: `${AT}.tls.caFile: cannot read "/nonexistent/ca.pem" (ENOENT)`,
    },
    {
      label: 'a caFile without a certificate',
      revision: { urls: ['https://a:1'], tls: { caFile: 'GARBAGE' } },
      want: `${AT}.tls.caFile: no PEM certificate`,
    },
    {
      label: 'a caFile with a broken certificate',
      revision: { urls: ['https://a:1'], tls: { caFile: 'BROKEN' } },
      want: `${AT}.tls.caFile: certificate 1 of the file is not valid`,
    },
    {
      label: 'a certFile that is not a certificate',
      revision: { urls: ['https://a:1'], tls: { certFile: 'GARBAGE', keyFile: 'CLIENT_KEY' } },
      want: `${AT}.tls.certFile: no PEM certificate`,
    },
    {
      label: 'a keyFile that is not a key',
      revision: { urls: ['https://a:1'], tls: { certFile: 'CLIENT_CERT', keyFile: 'GARBAGE' } },
      want: `${AT}.tls.keyFile: not a PEM private key`,
    },
    {
      label: "a keyFile that is not the certificate's key",
      revision: { urls: ['https://a:1'], tls: { certFile: 'CLIENT_CERT', keyFile: 'OTHER_KEY' } },
      want: `${AT}.tls.keyFile: the key does not belong to the certificate in certFile`,
    },
  ])('$label', ({ revision, want }) => {
    const files: Record<string, string> = {
      CLIENT_CERT: client.certFile,
      CLIENT_KEY: client.keyFile,
      OTHER_KEY: other.keyFile,
      GARBAGE: join(certs.dir, 'garbage.pem'),
      BROKEN: join(certs.dir, 'broken.pem'),
    };
    const tls = (revision as { tls?: Record<string, string> }).tls;
    if (tls !== undefined) for (const k of Object.keys(tls)) tls[k] = files[tls[k]!] ?? tls[k]!;
    const found = problems(revision);
    expect(
      found.some((p) => p.startsWith(want)),
      `no problem starts with ${JSON.stringify(want)} in ${JSON.stringify(found)}`,
    ).toBe(true);
  });
});
