import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/config/duration.js';
import { parseConfig, parseConfigText } from '../src/config/load.js';
import { formatPath } from '../src/config/problems.js';
import { ConfigError } from '../src/errors.js';

const MINIMAL = `
services:
  - name: iris
    match:
      hosts: [iris.example.com]
    revisions:
      - name: iris-local
        backend: local
        command: node
        args: [server.js]
      - name: iris-static
        backend: static
        urls: [http://127.0.0.1:9000]
    traffic:
      - revision: iris-local
        percent: 90
      - revision: iris-static
        percent: 10
        tag: canary
`;

describe('parseConfigText: a valid minimal config', () => {
  const config = parseConfigText(MINIMAL);
  const [svc] = config.services;
  const [local, stat] = svc!.revisions;

  it('fills the top-level defaults', () => {
    expect(config.listen).toBe('0.0.0.0:8080');
    expect(config.admin).toBe('127.0.0.1:8081');
    expect(config.autoscaler).toEqual({});
  });

  it('keeps the service as written', () => {
    expect(config.services).toHaveLength(1);
    expect(svc!.name).toBe('iris');
    expect(svc!.match).toEqual({ hosts: ['iris.example.com'] });
    expect(svc!.traffic).toEqual([
      { revision: 'iris-local', percent: 90 },
      { revision: 'iris-static', percent: 10, tag: 'canary' },
    ]);
  });

  it('fills a local revision with its defaults', () => {
    expect(local).toMatchObject({
      name: 'iris-local',
      backend: 'local',
      command: 'node',
      args: ['server.js'],
      env: {},
      readinessPath: '/',
      containerConcurrency: 0,
      timeoutSeconds: 300,
      activationTimeoutSeconds: 120,
      queueDepth: 10_000,
      annotations: {},
      drainTimeoutSeconds: 30,
      terminationGraceSeconds: 10,
    });
    expect(local).not.toHaveProperty('cwd');
  });

  it('fills a static revision with its defaults', () => {
    expect(stat).toMatchObject({
      name: 'iris-static',
      backend: 'static',
      urls: ['http://127.0.0.1:9000'],
      containerConcurrency: 0,
      timeoutSeconds: 300,
      activationTimeoutSeconds: 120,
      queueDepth: 10_000,
      annotations: {},
    });
  });

  it('a match block is optional', () => {
    const cfg = parseConfigText(MINIMAL.replace(/ {4}match:\n {6}hosts: \[iris\.example\.com\]\n/, ''));
    expect(cfg.services[0]!.match).toEqual({ hosts: [] });
  });
});

interface EmptyRow {
  label: string;
  text: string;
}

describe('parseConfigText: documents with no services', () => {
  it.each<EmptyRow>([
    { label: 'empty text', text: '' },
    { label: 'whitespace only', text: '\n  \n' },
    { label: 'comments only', text: '# nothing here yet\n' },
    { label: 'empty mapping', text: '{}' },
    { label: 'explicit null', text: '~' },
    { label: 'empty services list', text: 'services: []' },
  ])('$label', ({ text }) => {
    const config = parseConfigText(text);
    expect(config.services).toEqual([]);
    expect(config.listen).toBe('0.0.0.0:8080');
    expect(config.admin).toBe('127.0.0.1:8081');
  });
});

/** A loose document shape: rows edit it freely, the parser decides what is valid. */
interface Doc {
  [key: string]: unknown;
  services: Array<{
    [key: string]: unknown;
    revisions: Array<Record<string, unknown>>;
    traffic: Array<Record<string, unknown>>;
  }>;
}

/** The minimal config as an object, fresh for every row. */
function baseDoc(): Doc {
  return {
    services: [
      {
        name: 'iris',
        match: { hosts: ['iris.example.com'] },
        revisions: [
          { name: 'iris-local', backend: 'local', command: 'node', args: ['server.js'] },
          { name: 'iris-static', backend: 'static', urls: ['http://127.0.0.1:9000'] },
        ],
        traffic: [
          { revision: 'iris-local', percent: 90 },
          { revision: 'iris-static', percent: 10, tag: 'canary' },
        ],
      },
    ],
  };
}

/** A second, valid service named `name`. */
function otherService(name: string): Doc['services'][number] {
  return {
    name,
    revisions: [{ name: `${name}-r1`, backend: 'static', urls: ['http://127.0.0.1:9100'] }],
    traffic: [{ revision: `${name}-r1`, percent: 100 }],
  };
}

interface InvalidRow {
  label: string;
  /** Edits the base document; or `text` is parsed as YAML instead. */
  edit?: (doc: Doc) => void;
  text?: string;
  /** Each must begin some problem: the field path, and often the message. */
  want: string[];
  /** Some problem must contain this. */
  wantText?: string;
}

const invalidRows: InvalidRow[] = [
  // Cross-field rules.
  {
    label: 'percents sum under 100',
    edit: (d) => {
      d.services[0]!.traffic[0]!.percent = 80;
    },
    want: ['services[0].traffic: percents sum to 90, want 100'],
  },
  {
    label: 'percents sum over 100',
    edit: (d) => {
      d.services[0]!.traffic[1]!.percent = 20;
    },
    want: ['services[0].traffic: percents sum to 110, want 100'],
  },
  {
    label: 'traffic to an unknown revision',
    edit: (d) => {
      d.services[0]!.traffic[1]!.revision = 'iris-ghost';
    },
    want: ['services[0].traffic[1].revision: unknown revision "iris-ghost"'],
  },
  {
    label: 'the same revision in traffic twice',
    edit: (d) => {
      d.services[0]!.traffic[1]!.revision = 'iris-local';
    },
    want: ['services[0].traffic[1].revision: revision "iris-local" listed twice'],
  },
  {
    label: 'duplicate revision name',
    edit: (d) => {
      d.services[0]!.revisions[1]!.name = 'iris-local';
      d.services[0]!.traffic = [{ revision: 'iris-local', percent: 100 }];
    },
    want: ['services[0].revisions[1].name: duplicate revision "iris-local"'],
  },
  {
    label: 'duplicate tag',
    edit: (d) => {
      d.services[0]!.traffic[0]!.tag = 'canary';
    },
    want: ['services[0].traffic[1].tag: duplicate tag "canary"'],
  },
  {
    label: 'duplicate service',
    edit: (d) => {
      d.services.push(otherService('mnist'), { ...otherService('iris'), name: 'iris' });
    },
    want: ['services[2].name: duplicate service "iris"'],
  },
  {
    label: 'problems in a later service name that service',
    edit: (d) => {
      const s = otherService('mnist');
      s.traffic[0]!.percent = 50;
      d.services.push(s);
    },
    want: ['services[1].traffic: percents sum to 50, want 100'],
  },
  {
    label: 'every problem listed, not just the first',
    edit: (d) => {
      d.services[0]!.traffic[0]!.percent = 80;
      d.services[0]!.traffic[0]!.tag = 'canary';
    },
    want: ['services[0].traffic[1].tag: duplicate tag "canary"', 'services[0].traffic: percents sum to 90, want 100'],
  },

  // Names.
  {
    label: 'service name upper case',
    edit: (d) => {
      d.services[0]!.name = 'Iris';
    },
    want: ['services[0].name: must be a DNS label'],
  },
  {
    label: 'service name with underscore',
    edit: (d) => {
      d.services[0]!.name = 'iris_v2';
    },
    want: ['services[0].name: must be a DNS label'],
  },
  {
    label: 'service name ending in a dash',
    edit: (d) => {
      d.services[0]!.name = 'iris-';
    },
    want: ['services[0].name: must be a DNS label'],
  },
  {
    label: 'service name of 64 characters',
    edit: (d) => {
      d.services[0]!.name = 'a'.repeat(64);
    },
    want: ['services[0].name: '],
  },
  {
    label: 'revision name upper case',
    edit: (d) => {
      d.services[0]!.revisions[0]!.name = 'Iris-Local';
      d.services[0]!.traffic[0]!.revision = 'Iris-Local';
    },
    want: ['services[0].revisions[0].name: must be a DNS label'],
  },
  {
    label: 'tag upper case',
    edit: (d) => {
      d.services[0]!.traffic[1]!.tag = 'Canary';
    },
    want: ['services[0].traffic[1].tag: must be a DNS-1035 label'],
  },

  // Strict objects: unknown fields are errors, not silently ignored.
  {
    label: 'unknown top-level field',
    edit: (d) => {
      d.listn = '0.0.0.0:8080';
    },
    want: ['(root): '],
    wantText: '"listn"',
  },
  {
    label: 'unknown service field',
    edit: (d) => {
      d.services[0]!.replicas = 3;
    },
    want: ['services[0]: '],
    wantText: '"replicas"',
  },
  {
    label: 'unknown match field',
    edit: (d) => {
      d.services[0]!.match = { host: 'iris.example.com' };
    },
    want: ['services[0].match: '],
    wantText: '"host"',
  },
  {
    label: 'unknown local revision field',
    edit: (d) => {
      d.services[0]!.revisions[0]!.image = 'iris:1';
    },
    want: ['services[0].revisions[0]: '],
    wantText: '"image"',
  },
  {
    label: 'local-only field on a static revision',
    edit: (d) => {
      d.services[0]!.revisions[1]!.command = 'node';
    },
    want: ['services[0].revisions[1]: '],
    wantText: '"command"',
  },
  {
    label: 'unknown traffic field',
    edit: (d) => {
      d.services[0]!.traffic[0]!.weight = 90;
    },
    want: ['services[0].traffic[0]: '],
    wantText: '"weight"',
  },

  // Revisions.
  {
    label: 'backend missing',
    edit: (d) => {
      delete d.services[0]!.revisions[0]!.backend;
    },
    want: ['services[0].revisions[0].backend: '],
  },
  {
    label: 'backend unknown',
    edit: (d) => {
      d.services[0]!.revisions[0]!.backend = 'docker';
    },
    want: ['services[0].revisions[0].backend: '],
  },
  {
    label: 'local revision without command',
    edit: (d) => {
      delete d.services[0]!.revisions[0]!.command;
    },
    want: ['services[0].revisions[0].command: '],
  },
  {
    label: 'local revision with empty command',
    edit: (d) => {
      d.services[0]!.revisions[0]!.command = '';
    },
    want: ['services[0].revisions[0].command: '],
  },
  {
    label: 'readiness path not starting with /',
    edit: (d) => {
      d.services[0]!.revisions[0]!.readinessPath = 'healthz';
    },
    want: ['services[0].revisions[0].readinessPath: '],
  },
  {
    label: 'static revision with an ftp URL',
    edit: (d) => {
      d.services[0]!.revisions[1]!.urls = ['ftp://127.0.0.1/'];
    },
    want: ['services[0].revisions[1].urls[0]: '],
  },
  {
    label: 'static revision with a non-URL second entry',
    edit: (d) => {
      d.services[0]!.revisions[1]!.urls = ['http://127.0.0.1:9000', '127.0.0.1:9001'];
    },
    want: ['services[0].revisions[1].urls[1]: '],
  },
  {
    label: 'static revision without URLs',
    edit: (d) => {
      d.services[0]!.revisions[1]!.urls = [];
    },
    want: ['services[0].revisions[1].urls: '],
  },
  {
    label: 'negative containerConcurrency',
    edit: (d) => {
      d.services[0]!.revisions[0]!.containerConcurrency = -1;
    },
    want: ['services[0].revisions[0].containerConcurrency: '],
  },
  {
    label: 'fractional containerConcurrency',
    edit: (d) => {
      d.services[0]!.revisions[0]!.containerConcurrency = 1.5;
    },
    want: ['services[0].revisions[0].containerConcurrency: '],
  },
  {
    label: 'containerConcurrency as text',
    edit: (d) => {
      d.services[0]!.revisions[0]!.containerConcurrency = '4';
    },
    want: ['services[0].revisions[0].containerConcurrency: '],
  },
  {
    label: 'zero timeoutSeconds',
    edit: (d) => {
      d.services[0]!.revisions[1]!.timeoutSeconds = 0;
    },
    want: ['services[0].revisions[1].timeoutSeconds: '],
  },
  {
    label: 'negative queueDepth',
    edit: (d) => {
      d.services[0]!.revisions[1]!.queueDepth = -1;
    },
    want: ['services[0].revisions[1].queueDepth: '],
  },
  {
    label: 'no revisions',
    edit: (d) => {
      d.services[0]!.revisions = [];
      d.services[0]!.traffic = [];
    },
    want: ['services[0].revisions: ', 'services[0].traffic: '],
  },

  // Traffic.
  {
    label: 'percent 101',
    edit: (d) => {
      d.services[0]!.traffic[0]!.percent = 101;
    },
    want: ['services[0].traffic[0].percent: '],
  },
  {
    label: 'negative percent',
    edit: (d) => {
      d.services[0]!.traffic[1]!.percent = -10;
    },
    want: ['services[0].traffic[1].percent: '],
  },
  {
    label: 'fractional percent',
    edit: (d) => {
      d.services[0]!.traffic[0]!.percent = 89.5;
    },
    want: ['services[0].traffic[0].percent: '],
  },
  {
    label: 'percent missing',
    edit: (d) => {
      delete d.services[0]!.traffic[0]!.percent;
    },
    want: ['services[0].traffic[0].percent: '],
  },

  // Addresses.
  {
    label: 'listen without a port',
    edit: (d) => {
      d.listen = 'localhost';
    },
    want: ['listen: must be HOST:PORT'],
  },
  {
    label: 'listen with a non-numeric port',
    edit: (d) => {
      d.listen = '0.0.0.0:http';
    },
    want: ['listen: must be HOST:PORT'],
  },
  {
    label: 'listen as a bare port',
    edit: (d) => {
      d.listen = '8080';
    },
    want: ['listen: must be HOST:PORT'],
  },
  {
    label: 'admin without a port',
    edit: (d) => {
      d.admin = '127.0.0.1';
    },
    want: ['admin: must be HOST:PORT'],
  },

  // Document shape.
  {
    label: 'services not a list',
    edit: (d) => {
      (d as Record<string, unknown>).services = { iris: {} };
    },
    want: ['services: '],
  },

  // YAML text.
  { label: 'YAML syntax error', text: 'services: [\n  - name: iris\n', want: ['config: YAML syntax'] },
  { label: 'YAML with a tab indent', text: 'services:\n\t- name: iris\n', want: ['config: YAML syntax'] },
  { label: 'YAML scalar document', text: 'just words', want: ['(root): '] },
  { label: 'YAML list document', text: '- name: iris\n', want: ['(root): '] },
];

describe('parseConfig: invalid configs name the field', () => {
  it.each(invalidRows)('$label', ({ edit, text, want, wantText }) => {
    let thrown: unknown;
    try {
      if (text !== undefined) parseConfigText(text);
      else {
        const doc = baseDoc();
        edit!(doc);
        parseConfig(doc);
      }
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const { problems, message, code, status } = thrown as ConfigError;
    expect(code).toBe('invalid_config');
    expect(status).toBe(400);
    expect(message).toBe(problems.join('; '));
    for (const prefix of want) {
      expect(
        problems.some((p) => p.startsWith(prefix)),
        `no problem starts with ${JSON.stringify(prefix)} in ${JSON.stringify(problems)}`,
      ).toBe(true);
    }
    if (wantText !== undefined)
      expect(
        problems.some((p) => p.includes(wantText)),
        JSON.stringify(problems),
      ).toBe(true);
  });

  it('a YAML syntax error names the source and the line', () => {
    let thrown: unknown;
    try {
      parseConfigText('services: [\n  - name: iris\n', 'sluice.yaml');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const [problem] = (thrown as ConfigError).problems;
    expect(problem).toMatch(/^sluice\.yaml: YAML syntax: /);
    expect(problem).toMatch(/line 2/);
  });
});

describe('parseConfig: valid variations', () => {
  it.each([
    {
      label: 'listen on any IPv6 address',
      edit: (d: Doc) => {
        d.listen = '[::]:8080';
      },
      check: (d: Doc) => d.listen === '[::]:8080',
    },
    {
      label: 'listen on every interface',
      edit: (d: Doc) => {
        d.listen = ':8080';
      },
      check: (d: Doc) => d.listen === ':8080',
    },
    {
      label: 'a revision at 0 percent',
      edit: (d: Doc) => {
        d.services[0]!.traffic = [
          { revision: 'iris-local', percent: 100 },
          { revision: 'iris-static', percent: 0 },
        ];
      },
      check: (d: Doc) => d.services[0]!.traffic[1]!.percent === 0,
    },
    {
      label: 'a revision with no traffic entry',
      edit: (d: Doc) => {
        d.services[0]!.traffic = [{ revision: 'iris-local', percent: 100 }];
      },
      check: (d: Doc) => d.services[0]!.revisions.length === 2,
    },
    {
      label: 'containerConcurrency and timeouts set',
      edit: (d: Doc) => {
        Object.assign(d.services[0]!.revisions[0]!, { containerConcurrency: 4, timeoutSeconds: 30, queueDepth: 0 });
      },
      check: (d: Doc) => d.services[0]!.revisions[0]!.containerConcurrency === 4 && d.services[0]!.revisions[0]!.queueDepth === 0,
    },
    {
      label: 'https static URL',
      edit: (d: Doc) => {
        d.services[0]!.revisions[1]!.urls = ['https://iris.internal'];
      },
      check: (d: Doc) => (d.services[0]!.revisions[1]!.urls as string[])[0] === 'https://iris.internal',
    },
    {
      label: 'two services',
      edit: (d: Doc) => {
        d.services.push(otherService('mnist'));
      },
      check: (d: Doc) => d.services.length === 2 && d.services[1]!.name === 'mnist',
    },
  ])('$label', ({ edit, check }) => {
    const doc = baseDoc();
    edit(doc);
    expect(check(parseConfig(doc) as unknown as Doc)).toBe(true);
  });
});

describe('formatPath', () => {
  it.each([
    { label: 'root', path: [], want: '(root)' },
    { label: 'one key', path: ['listen'], want: 'listen' },
    { label: 'keys and indices', path: ['services', 0, 'traffic', 1, 'percent'], want: 'services[0].traffic[1].percent' },
    { label: 'nested indices', path: ['services', 0, 'revisions', 1, 'urls', 0], want: 'services[0].revisions[1].urls[0]' },
  ])('$label', ({ path, want }) => {
    expect(formatPath(path)).toBe(want);
  });
});

interface DurationRow {
  label: string;
  text: string | number;
  want: number | undefined;
}

const durationRows: DurationRow[] = [
  { label: 'seconds', text: '30s', want: 30_000 },
  { label: 'minutes and seconds', text: '1m30s', want: 90_000 },
  { label: 'hours and minutes', text: '1h30m', want: 5_400_000 },
  { label: 'milliseconds', text: '500ms', want: 500 },
  { label: 'seconds and milliseconds', text: '1s500ms', want: 1_500 },
  { label: 'one hour', text: '1h', want: 3_600_000 },
  { label: 'one minute', text: '1m', want: 60_000 },
  { label: 'fractional seconds', text: '1.5s', want: 1_500 },
  { label: 'microseconds', text: '1500us', want: 1.5 },
  { label: 'microseconds with µ', text: '2000µs', want: 2 },
  { label: 'zero', text: '0', want: 0 },
  { label: 'zero seconds', text: '0s', want: 0 },
  { label: 'bare number is seconds', text: '45', want: 45_000 },
  { label: 'bare fraction is seconds', text: '0.25', want: 250 },
  { label: 'surrounding spaces', text: ' 2m ', want: 120_000 },
  { label: 'number is seconds', text: 30, want: 30_000 },
  { label: 'number zero', text: 0, want: 0 },
  { label: 'empty', text: '', want: undefined },
  { label: 'spaces only', text: '  ', want: undefined },
  { label: 'words', text: 'soon', want: undefined },
  { label: 'unit only', text: 's', want: undefined },
  { label: 'days are not a Go unit', text: '1d', want: undefined },
  { label: 'negative', text: '-1s', want: undefined },
  { label: 'trailing garbage', text: '30sx', want: undefined },
  { label: 'space between parts', text: '1m 30s', want: undefined },
  { label: 'negative number', text: -5, want: undefined },
  { label: 'NaN', text: Number.NaN, want: undefined },
  { label: 'Infinity', text: Number.POSITIVE_INFINITY, want: undefined },
];

describe('parseDuration', () => {
  it.each(durationRows)('$label', ({ text, want }) => {
    expect(parseDuration(text)).toBe(want);
  });
});

describe('tags are DNS-1035 labels', () => {
  it.each([
    { label: 'starts with a digit', tag: '1canary', ok: false },
    { label: 'ends with a dash', tag: 'canary-', ok: false },
    { label: 'plain', tag: 'canary', ok: true },
    { label: 'with digits and dash', tag: 'v2-candidate', ok: true },
  ])('$label', ({ tag, ok }) => {
    const doc = {
      services: [
        {
          name: 's',
          revisions: [
            { name: 'a', backend: 'static', urls: ['http://127.0.0.1:1'] },
            { name: 'b', backend: 'static', urls: ['http://127.0.0.1:2'] },
          ],
          traffic: [
            { revision: 'a', percent: 100 },
            { revision: 'b', percent: 0, tag },
          ],
        },
      ],
    };
    if (ok) expect(() => parseConfig(doc)).not.toThrow();
    else expect(() => parseConfig(doc)).toThrow(/services\[0\]\.traffic\[1\]\.tag: must be a DNS-1035 label/);
  });
});
