/** The `tls:` block and `listen: off` as the config parser reads them: defaults, and problems that name the field. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, parseConfigText, readConfigFile } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';

const CERT = { certFile: 'a.crt', keyFile: 'a.key' };

describe('tls: defaults', () => {
  it('fills listen, minVersion, alpn, the handshake timeout and default: false', () => {
    const config = parseConfig({ tls: { certificates: [CERT] } });
    expect(config.tls).toEqual({
      listen: '0.0.0.0:8443',
      certificates: [{ ...CERT, default: false }],
      minVersion: 'TLSv1.2',
      alpn: ['h2', 'http/1.1'],
      handshakeTimeoutSeconds: 10,
    });
    expect(config.listen).toBe('0.0.0.0:8080');
  });

  it('no tls block: none', () => {
    expect(parseConfig({}).tls).toBeUndefined();
  });

  it('listen: off, unquoted in YAML, with a tls block', () => {
    const config = parseConfigText('listen: off\ntls:\n  certificates:\n    - { certFile: a.crt, keyFile: a.key }\n');
    expect(config.listen).toBe('off');
  });

  it('names are kept in lower case without a trailing dot', () => {
    const config = parseConfig({ tls: { certificates: [{ ...CERT, names: ['A.Example.Test.', '*.Wild.Example.Test'] }] } });
    expect(config.tls!.certificates[0]!.names).toEqual(['a.example.test', '*.wild.example.test']);
  });

  it('a cipher list OpenSSL knows, TLS 1.3 suites by their TLS_ names', () => {
    const ciphers = 'TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256';
    expect(parseConfig({ tls: { minVersion: 'TLSv1.3', ciphers, certificates: [CERT] } }).tls!.ciphers).toBe(ciphers);
  });

  it('a Secret in place of the files', () => {
    expect(parseConfig({ tls: { certificates: [{ secret: 'edge/a-tls' }] } }).tls!.certificates[0]).toEqual({
      secret: 'edge/a-tls',
      default: false,
    });
  });

  it('certificate files resolve against the config file’s folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-config-'));
    try {
      const file = join(dir, 'sluice.yaml');
      writeFileSync(file, 'tls:\n  certificates:\n    - { certFile: certs/a.crt, keyFile: /abs/a.key }\n');
      const config = await readConfigFile(file);
      expect(config.tls!.certificates[0]).toMatchObject({ certFile: join(dir, 'certs/a.crt'), keyFile: '/abs/a.key' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tls: invalid blocks name the field', () => {
  const rows: { label: string; doc: Record<string, unknown>; want: string[] }[] = [
    {
      label: 'listen: off without tls',
      doc: { listen: 'off' },
      want: ['listen: off leaves no listener: add a tls block, or give HOST:PORT'],
    },
    { label: 'a listen that is neither', doc: { listen: 'nowhere' }, want: ['listen: must be HOST:PORT or off'] },
    { label: 'no certificates', doc: { tls: { certificates: [] } }, want: ['tls.certificates:'] },
    { label: 'no certificates key', doc: { tls: {} }, want: ['tls.certificates:'] },
    {
      label: 'a certificate without its key',
      doc: { tls: { certificates: [{ certFile: 'a.crt' }] } },
      want: ['tls.certificates[0].keyFile:'],
    },
    {
      label: 'neither files nor a Secret',
      doc: { tls: { certificates: [{ names: ['a.test'] }] } },
      want: ['tls.certificates[0].certFile: required (or give secret)', 'tls.certificates[0].keyFile: required (or give secret)'],
    },
    {
      label: 'files and a Secret',
      doc: { tls: { certificates: [{ ...CERT, secret: 'a-tls' }] } },
      want: ['tls.certificates[0]: give secret, or certFile and keyFile, not both'],
    },
    {
      label: 'a Secret that is not NAME or NAMESPACE/NAME',
      doc: { tls: { certificates: [{ secret: 'A/b/c' }] } },
      want: ['tls.certificates[0].secret: must be NAME or NAMESPACE/NAME'],
    },
    { label: 'an unknown field', doc: { tls: { certificates: [CERT], sni: true } }, want: ['tls:'] },
    { label: 'TLS 1.1', doc: { tls: { minVersion: 'TLSv1.1', certificates: [CERT] } }, want: ['tls.minVersion:'] },
    { label: 'a bad listen', doc: { tls: { listen: '8443', certificates: [CERT] } }, want: ['tls.listen: must be HOST:PORT'] },
    {
      label: 'a name that is not a host',
      doc: { tls: { certificates: [{ ...CERT, names: ['a..b'] }] } },
      want: ['tls.certificates[0].names[0]: must be a host name, or "*." and a host name'],
    },
    {
      label: 'a wildcard inside a name',
      doc: { tls: { certificates: [{ ...CERT, names: ['a.*.b'] }] } },
      want: ['tls.certificates[0].names[0]:'],
    },
    {
      label: 'two defaults',
      doc: { tls: { certificates: [CERT, { ...CERT, default: true }, { ...CERT, default: true }] } },
      want: ['tls.certificates[2].default: only one certificate can be the default (certificates[1] is)'],
    },
    {
      label: 'ciphers OpenSSL does not know',
      doc: { tls: { ciphers: 'NOPE-CIPHER', certificates: [CERT] } },
      want: ['tls.ciphers: OpenSSL knows no cipher in this list'],
    },
    { label: 'an unknown ALPN protocol', doc: { tls: { alpn: ['spdy/3'], certificates: [CERT] } }, want: ['tls.alpn[0]:'] },
    {
      label: 'a handshake timeout of 0',
      doc: { tls: { handshakeTimeoutSeconds: 0, certificates: [CERT] } },
      want: ['tls.handshakeTimeoutSeconds:'],
    },
  ];
  for (const row of rows) {
    it(row.label, () => {
      let thrown: unknown;
      try {
        parseConfig(row.doc);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      const { problems } = thrown as ConfigError;
      for (const want of row.want)
        expect(
          problems.some((p) => p.startsWith(want)),
          JSON.stringify(problems),
        ).toBe(true);
    });
  }
});
