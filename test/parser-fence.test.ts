/**
 * The fence around Node's HTTP parser (src/downstream/native-parser.ts) and the data port's
 * choice of server (src/downstream/data-port-server.ts): tables over fake parser modules, then a
 * real `sluice gateway` whose Node cannot load `_http_common`, which must fall back to node:http,
 * say so in its log, and serve.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseDataPort } from '../src/downstream/data-port-server.js';
import { checkNativeParser, nativeParser, type NativeParser, type ParserFence } from '../src/downstream/native-parser.js';
import { CLI, FIXTURES } from './support/harness.js';

/** `_http_common` as the fakes below change it: the parser's slots by name, and the method list. */
interface ParserClass {
  new (): NativeParser;
  [slot: string]: unknown;
}
interface Common {
  HTTPParser: ParserClass;
  methods: string[];
}

const real = () => createRequire(import.meta.url)('_http_common') as Common;

/** A copy of the real module with one thing changed. */
function changed(change: (common: Common) => void): () => unknown {
  return () => {
    const common = real();
    const P = common.HTTPParser;
    class Copy extends P {}
    const slots = ['REQUEST', 'RESPONSE', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete', 'kOnExecute'];
    const copy: Common = {
      HTTPParser: Object.assign(Copy, Object.fromEntries(slots.map((key) => [key, P[key]]))),
      methods: [...common.methods],
    };
    change(copy);
    return copy;
  };
}

describe('checkNativeParser', () => {
  it.each([
    {
      label: 'the module cannot be loaded',
      load: () => {
        throw new Error('no such module');
      },
      want: '_http_common cannot be loaded: no such module',
    },
    { label: 'no HTTPParser', load: () => ({ methods: ['GET', 'POST'] }), want: 'no HTTPParser class' },
    { label: 'no method list', load: changed((c) => ((c as Partial<Common>).methods = undefined)), want: 'no method list' },
    { label: 'a callback slot gone', load: changed((c) => (c.HTTPParser.kOnBody = undefined)), want: 'HTTPParser.kOnBody is not a number' },
    {
      label: 'a method gone',
      load: changed((c) => ((c.HTTPParser.prototype as Record<string, unknown>).finish = undefined)),
      want: 'HTTPParser.prototype.finish is not a function',
    },
    {
      label: 'callbacks moved to other slots',
      load: changed((c) => {
        [c.HTTPParser.kOnBody, c.HTTPParser.kOnMessageComplete] = [c.HTTPParser.kOnMessageComplete, c.HTTPParser.kOnBody];
      }),
      want: /HTTPParser (called back|threw on a fixed request)/,
    },
    {
      label: 'method indices shifted',
      load: changed((c) => c.methods.unshift('BREW')),
      want: 'HTTPParser called back',
    },
    {
      label: 'execute reports bytes differently',
      load: changed((c) => {
        const prototype = c.HTTPParser.prototype as { execute: (this: unknown, data: Buffer) => unknown };
        const execute = prototype.execute;
        prototype.execute = function (this: unknown, data: Buffer) {
          const n = execute.call(this, data);
          return typeof n === 'number' ? n - 1 : n;
        };
      }),
      want: 'HTTPParser.execute returned',
    },
  ])('refuses: $label', ({ load, want }) => {
    const fence = checkNativeParser(load);
    expect(fence.ok).toBe(false);
    if (typeof want === 'string') expect((fence as { problem: string }).problem).toContain(want);
    else expect((fence as { problem: string }).problem).toMatch(want);
  });

  it("accepts this Node's own parser", () => {
    expect(checkNativeParser().ok).toBe(true);
    expect(nativeParser.ok).toBe(true);
  });
});

describe('chooseDataPort', () => {
  const bad: ParserFence = { ok: false, problem: '_http_common cannot be loaded: gone' };
  it.each([
    { label: 'by default, its own server', env: {}, fence: nativeParser, want: { kind: 'http1' } },
    { label: 'SLUICE_HTTP_SERVER=http1', env: { SLUICE_HTTP_SERVER: 'http1' }, fence: nativeParser, want: { kind: 'http1' } },
    {
      label: 'SLUICE_HTTP_SERVER=node',
      env: { SLUICE_HTTP_SERVER: 'node' },
      fence: nativeParser,
      want: { kind: 'node', reason: 'SLUICE_HTTP_SERVER=node' },
    },
    {
      label: 'the parser unusable: node:http, with the reason',
      env: {},
      fence: bad,
      want: { kind: 'node', reason: "Node's HTTP parser is not usable: _http_common cannot be loaded: gone" },
    },
    {
      label: 'the parser unusable wins over asking for http1',
      env: { SLUICE_HTTP_SERVER: 'http1' },
      fence: bad,
      want: { kind: 'node', reason: "Node's HTTP parser is not usable: _http_common cannot be loaded: gone" },
    },
    {
      label: 'an unknown value: its own server, with a warning',
      env: { SLUICE_HTTP_SERVER: 'h3' },
      fence: nativeParser,
      want: { kind: 'http1', reason: 'SLUICE_HTTP_SERVER=h3 is not "http1" or "node"; using http1' },
    },
  ])('$label', ({ env, fence, want }) => {
    expect(chooseDataPort(env, fence)).toEqual(want);
  });
});

/** A line of the gateway's JSON log, with the fields read here. */
interface LogLine {
  level: number;
  msg: string;
  server?: string;
  reason?: string;
  listen?: string;
}

describe('a gateway whose Node has no usable HTTP parser', () => {
  let dir: string | undefined;
  let backend: Server | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    await new Promise((r) => (backend ? backend.close(r) : r(undefined)));
  });

  it('falls back to node:http, says why at warn level, and serves', async () => {
    backend = createServer((req, res) => res.end(`backend ${req.url}`));
    await new Promise<void>((r) => backend!.listen(0, '127.0.0.1', r));
    dir = await mkdtemp(join(tmpdir(), 'sluice-fence-'));
    const config = join(dir, 'sluice.yaml');
    await writeFile(
      config,
      `
services:
  - name: app
    revisions: [{ name: app-1, backend: static, urls: ["http://127.0.0.1:${(backend.address() as { port: number }).port}"] }]
    traffic: [{ revision: app-1, percent: 100 }]
`,
    );
    const child = spawn(
      process.execPath,
      [
        '--require',
        join(FIXTURES, 'hide-http-parser.cjs'),
        CLI,
        'gateway',
        '--config',
        config,
        '--listen',
        '127.0.0.1:0',
        '--admin',
        '127.0.0.1:0',
        '--log-format',
        'json',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      const lines: LogLine[] = [];
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const listening = await new Promise<LogLine>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          const entry = JSON.parse(line) as LogLine;
          lines.push(entry);
          if (String(entry.msg).startsWith('sluice gateway listening')) resolve(entry);
        });
        child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${stderr}`)));
      });
      const warning = lines.find((l) => l.level === 40 && l.server === 'node');
      expect(warning?.reason).toContain("Node's HTTP parser is not usable: _http_common cannot be loaded");
      const url = `http://${listening.listen}/hello`;
      const res = await request(url);
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('backend /hello');
      expect(res.headers['sluice-revision']).toBe('app-1');
    } finally {
      clearTimeout(kill);
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    }
  }, 30_000);
});
