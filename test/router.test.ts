import { describe, expect, it } from 'vitest';
import { normalizeHost } from '../src/gateway/host.js';
import { modelName, Router, type RouteSpec } from '../src/gateway/router.js';

/** `n` services on hosts nothing below asks for: they only move later specs down the list. */
function unrelated(n: number): RouteSpec<string>[] {
  return Array.from({ length: n }, (_, i) => ({ service: `unrelated-${i}`, hosts: [`unrelated-${i}.test`] }));
}

interface MatchRow {
  label: string;
  specs: RouteSpec<string>[];
  /** Host header value; undefined = no Host header. */
  host: string | undefined;
  url: string;
  want: string | undefined;
}

const matchRows: MatchRow[] = [
  // Hosts.
  {
    label: 'exact host',
    specs: [{ service: 'iris', hosts: ['iris.example.com'] }],
    host: 'iris.example.com',
    url: '/',
    want: 'iris',
  },
  {
    label: 'one of several hosts',
    specs: [{ service: 'iris', hosts: ['a.example.com', 'iris.example.com'] }],
    host: 'iris.example.com',
    url: '/',
    want: 'iris',
  },
  {
    label: 'wildcard matches one label',
    specs: [{ service: 'any', hosts: ['*.example.com'] }],
    host: 'iris.example.com',
    url: '/',
    want: 'any',
  },
  {
    label: 'wildcard matches several labels',
    specs: [{ service: 'any', hosts: ['*.example.com'] }],
    host: 'a.b.example.com',
    url: '/',
    want: 'any',
  },
  {
    label: 'wildcard does not match the bare domain',
    specs: [{ service: 'any', hosts: ['*.example.com'] }],
    host: 'example.com',
    url: '/',
    want: undefined,
  },
  {
    label: 'wildcard does not match a domain that merely ends the same',
    specs: [{ service: 'any', hosts: ['*.example.com'] }],
    host: 'badexample.com',
    url: '/',
    want: undefined,
  },
  {
    label: 'host with port',
    specs: [{ service: 'iris', hosts: ['iris.example.com'] }],
    host: 'iris.example.com:8080',
    url: '/',
    want: 'iris',
  },
  {
    label: 'wildcard host with port',
    specs: [{ service: 'any', hosts: ['*.example.com'] }],
    host: 'iris.example.com:443',
    url: '/',
    want: 'any',
  },
  {
    label: 'IPv6 host with port',
    specs: [{ service: 'local', hosts: ['[::1]'] }],
    host: '[::1]:8080',
    url: '/',
    want: 'local',
  },
  {
    label: 'IPv6 host without port',
    specs: [{ service: 'local', hosts: ['[::1]'] }],
    host: '[::1]',
    url: '/',
    want: 'local',
  },
  {
    label: 'host header upper case',
    specs: [{ service: 'iris', hosts: ['iris.example.com'] }],
    host: 'IRIS.Example.COM',
    url: '/',
    want: 'iris',
  },
  {
    label: 'configured host upper case',
    specs: [{ service: 'iris', hosts: ['Iris.EXAMPLE.com'] }],
    host: 'iris.example.com',
    url: '/',
    want: 'iris',
  },
  {
    label: 'configured wildcard upper case',
    specs: [{ service: 'any', hosts: ['*.EXAMPLE.com'] }],
    host: 'Iris.example.COM',
    url: '/',
    want: 'any',
  },
  {
    label: 'no Host header reaches an any-host service',
    specs: [
      { service: 'iris', hosts: ['iris.example.com'] },
      { service: 'fallback', hosts: [] },
    ],
    host: undefined,
    url: '/',
    want: 'fallback',
  },
  {
    label: 'no Host header and only host-bound services',
    specs: [{ service: 'iris', hosts: ['iris.example.com'] }],
    host: undefined,
    url: '/',
    want: undefined,
  },
  {
    label: 'empty Host header and only host-bound services',
    specs: [{ service: 'iris', hosts: ['iris.example.com'] }],
    host: '',
    url: '/',
    want: undefined,
  },
  {
    label: 'unknown host with no catch-all',
    specs: [
      { service: 'iris', hosts: ['iris.example.com'] },
      { service: 'any', hosts: ['*.example.org'] },
    ],
    host: 'other.example.net',
    url: '/',
    want: undefined,
  },
  {
    label: 'unknown host falls to the any-host service',
    specs: [
      { service: 'iris', hosts: ['iris.example.com'] },
      { service: 'fallback', hosts: [] },
    ],
    host: 'other.example.net',
    url: '/',
    want: 'fallback',
  },
  {
    label: 'no services',
    specs: [],
    host: 'iris.example.com',
    url: '/',
    want: undefined,
  },

  // Path prefix, on segment boundaries.
  { label: 'prefix equals path', specs: [{ service: 'api', hosts: [], pathPrefix: '/api' }], host: 'h', url: '/api', want: 'api' },
  { label: 'prefix then segment', specs: [{ service: 'api', hosts: [], pathPrefix: '/api' }], host: 'h', url: '/api/x', want: 'api' },
  { label: 'prefix then slash', specs: [{ service: 'api', hosts: [], pathPrefix: '/api' }], host: 'h', url: '/api/', want: 'api' },
  { label: 'prefix then query', specs: [{ service: 'api', hosts: [], pathPrefix: '/api' }], host: 'h', url: '/api?q=1', want: 'api' },
  {
    label: 'prefix inside a segment',
    specs: [{ service: 'api', hosts: [], pathPrefix: '/api' }],
    host: 'h',
    url: '/apix',
    want: undefined,
  },
  {
    label: 'prefix inside a segment, then query',
    specs: [{ service: 'api', hosts: [], pathPrefix: '/api' }],
    host: 'h',
    url: '/apix?q',
    want: undefined,
  },
  {
    label: 'prefix elsewhere in the path',
    specs: [{ service: 'api', hosts: [], pathPrefix: '/api' }],
    host: 'h',
    url: '/v1/api',
    want: undefined,
  },
  {
    label: 'prefix in the query only',
    specs: [{ service: 'api', hosts: [], pathPrefix: '/api' }],
    host: 'h',
    url: '/x?next=/api',
    want: undefined,
  },
  {
    label: 'prefix with trailing slash matches its bare path',
    specs: [{ service: 'api', hosts: [], pathPrefix: '/api/' }],
    host: 'h',
    url: '/api',
    want: 'api',
  },
  {
    label: 'prefix with trailing slash, sub-path',
    specs: [{ service: 'api', hosts: [], pathPrefix: '/api/' }],
    host: 'h',
    url: '/api/x',
    want: 'api',
  },
  {
    label: 'multi-segment prefix',
    specs: [{ service: 'api', hosts: [], pathPrefix: '/api/v2' }],
    host: 'h',
    url: '/api/v2/x',
    want: 'api',
  },
  {
    label: 'multi-segment prefix, shorter path',
    specs: [{ service: 'api', hosts: [], pathPrefix: '/api/v2' }],
    host: 'h',
    url: '/api',
    want: undefined,
  },
  { label: 'root prefix matches root', specs: [{ service: 'all', hosts: [], pathPrefix: '/' }], host: 'h', url: '/', want: 'all' },
  { label: 'root prefix matches any path', specs: [{ service: 'all', hosts: [], pathPrefix: '/' }], host: 'h', url: '/a/b?c', want: 'all' },
  {
    label: 'host and prefix both required',
    specs: [{ service: 'api', hosts: ['iris.example.com'], pathPrefix: '/api' }],
    host: 'iris.example.com',
    url: '/other',
    want: undefined,
  },

  // KServe model names.
  { label: 'V2 infer', specs: [{ service: 'iris', hosts: [], model: 'iris' }], host: 'h', url: '/v2/models/iris/infer', want: 'iris' },
  {
    label: 'V2 versioned infer',
    specs: [{ service: 'iris', hosts: [], model: 'iris' }],
    host: 'h',
    url: '/v2/models/iris/versions/1/infer',
    want: 'iris',
  },
  { label: 'V2 model metadata', specs: [{ service: 'iris', hosts: [], model: 'iris' }], host: 'h', url: '/v2/models/iris', want: 'iris' },
  {
    label: 'V2 model ready with query',
    specs: [{ service: 'iris', hosts: [], model: 'iris' }],
    host: 'h',
    url: '/v2/models/iris/ready?x=1',
    want: 'iris',
  },
  { label: 'V1 predict', specs: [{ service: 'iris', hosts: [], model: 'iris' }], host: 'h', url: '/v1/models/iris:predict', want: 'iris' },
  { label: 'V1 model status', specs: [{ service: 'iris', hosts: [], model: 'iris' }], host: 'h', url: '/v1/models/iris', want: 'iris' },
  {
    label: 'other model',
    specs: [{ service: 'iris', hosts: [], model: 'iris' }],
    host: 'h',
    url: '/v2/models/mnist/infer',
    want: undefined,
  },
  {
    label: 'model name prefix is not the model',
    specs: [{ service: 'iris', hosts: [], model: 'iris' }],
    host: 'h',
    url: '/v2/models/iris2/infer',
    want: undefined,
  },
  {
    label: 'not a model path',
    specs: [{ service: 'iris', hosts: [], model: 'iris' }],
    host: 'h',
    url: '/v2/health/ready',
    want: undefined,
  },
  { label: 'empty model name', specs: [{ service: 'iris', hosts: [], model: 'iris' }], host: 'h', url: '/v2/models/', want: undefined },
  {
    label: 'percent-encoded model name',
    specs: [{ service: 'spaced', hosts: [], model: 'my model' }],
    host: 'h',
    url: '/v2/models/my%20model/infer',
    want: 'spaced',
  },
  {
    label: 'malformed percent escape does not throw or match',
    specs: [{ service: 'iris', hosts: [], model: 'iris' }],
    host: 'h',
    url: '/v2/models/iris%E0%A4%A/infer',
    want: undefined,
  },
  {
    label: 'malformed percent escape falls through to a prefix route',
    specs: [
      { service: 'iris', hosts: [], model: 'iris' },
      { service: 'v2', hosts: [], pathPrefix: '/v2' },
    ],
    host: 'h',
    url: '/v2/models/%zz/infer',
    want: 'v2',
  },

  // Specificity.
  {
    label: 'exact host beats wildcard',
    specs: [
      { service: 'wild', hosts: ['*.example.com'] },
      { service: 'exact', hosts: ['iris.example.com'] },
    ],
    host: 'iris.example.com',
    url: '/',
    want: 'exact',
  },
  {
    label: 'wildcard beats any host',
    specs: [
      { service: 'any', hosts: [] },
      { service: 'wild', hosts: ['*.example.com'] },
    ],
    host: 'iris.example.com',
    url: '/',
    want: 'wild',
  },
  {
    label: 'exact host beats any host',
    specs: [
      { service: 'any', hosts: [] },
      { service: 'exact', hosts: ['iris.example.com'] },
    ],
    host: 'iris.example.com',
    url: '/',
    want: 'exact',
  },
  {
    label: 'exact host beats a more specific any-host route',
    specs: [
      { service: 'any', hosts: [], model: 'iris', pathPrefix: '/v2/models' },
      { service: 'exact', hosts: ['iris.example.com'] },
    ],
    host: 'iris.example.com',
    url: '/v2/models/iris/infer',
    want: 'exact',
  },
  {
    label: 'longer wildcard suffix beats shorter',
    specs: [
      { service: 'short', hosts: ['*.example.com'] },
      { service: 'long', hosts: ['*.eu.example.com'] },
    ],
    host: 'iris.eu.example.com',
    url: '/',
    want: 'long',
  },
  {
    label: 'exact host that does not match the path falls to any host',
    specs: [
      { service: 'exact', hosts: ['iris.example.com'], pathPrefix: '/api' },
      { service: 'any', hosts: [] },
    ],
    host: 'iris.example.com',
    url: '/other',
    want: 'any',
  },
  {
    label: 'exact host that does not match the path falls to a wildcard',
    specs: [
      { service: 'exact', hosts: ['iris.example.com'], pathPrefix: '/api' },
      { service: 'wild', hosts: ['*.example.com'] },
    ],
    host: 'iris.example.com',
    url: '/other',
    want: 'wild',
  },
  {
    label: 'longer wildcard that does not match the path falls to a shorter wildcard',
    specs: [
      { service: 'long', hosts: ['*.eu.example.com'], pathPrefix: '/api' },
      { service: 'short', hosts: ['*.example.com'] },
    ],
    host: 'iris.eu.example.com',
    url: '/other',
    want: 'short',
  },
  {
    label: 'model beats prefix only',
    specs: [
      { service: 'prefix', hosts: [], pathPrefix: '/v2/models/iris' },
      { service: 'model', hosts: [], model: 'iris' },
    ],
    host: 'h',
    url: '/v2/models/iris/infer',
    want: 'model',
  },
  {
    label: 'model and prefix beat model only',
    specs: [
      { service: 'model', hosts: [], model: 'iris' },
      { service: 'both', hosts: [], model: 'iris', pathPrefix: '/v2' },
    ],
    host: 'h',
    url: '/v2/models/iris/infer',
    want: 'both',
  },
  {
    label: 'model route for another model leaves the prefix route',
    specs: [
      { service: 'model', hosts: [], model: 'iris' },
      { service: 'prefix', hosts: [], pathPrefix: '/v2' },
    ],
    host: 'h',
    url: '/v2/models/mnist/infer',
    want: 'prefix',
  },
  {
    label: 'longer prefix beats shorter',
    specs: [
      { service: 'short', hosts: [], pathPrefix: '/api' },
      { service: 'long', hosts: [], pathPrefix: '/api/v2' },
    ],
    host: 'h',
    url: '/api/v2/x',
    want: 'long',
  },
  {
    label: 'shorter prefix takes what the longer does not match',
    specs: [
      { service: 'short', hosts: [], pathPrefix: '/api' },
      { service: 'long', hosts: [], pathPrefix: '/api/v2' },
    ],
    host: 'h',
    url: '/api/v1/x',
    want: 'short',
  },
  {
    label: 'prefix beats no prefix',
    specs: [
      { service: 'all', hosts: [] },
      { service: 'api', hosts: [], pathPrefix: '/api' },
    ],
    host: 'h',
    url: '/api',
    want: 'api',
  },
  {
    label: 'tie goes to the first listed',
    specs: [
      { service: 'first', hosts: ['iris.example.com'], pathPrefix: '/api' },
      { service: 'second', hosts: ['iris.example.com'], pathPrefix: '/api' },
    ],
    host: 'iris.example.com',
    url: '/api/x',
    want: 'first',
  },
  {
    label: 'tie between any-host services goes to the first listed',
    specs: [
      { service: 'first', hosts: [] },
      { service: 'second', hosts: [] },
    ],
    host: 'h',
    url: '/',
    want: 'first',
  },
  {
    label: 'tie between wildcards goes to the first listed',
    specs: [
      { service: 'first', hosts: ['*.example.com'] },
      { service: 'second', hosts: ['*.example.com'] },
    ],
    host: 'iris.example.com',
    url: '/',
    want: 'first',
  },
  {
    label: 'longer prefix beats shorter however far down the list it is',
    specs: [{ service: 'short', hosts: [], pathPrefix: '/a' }, ...unrelated(2_500), { service: 'long', hosts: [], pathPrefix: '/a/b' }],
    host: 'h',
    url: '/a/b/c',
    want: 'long',
  },
];

describe('Router.match', () => {
  it.each(matchRows)('$label', ({ specs, host, url, want }) => {
    expect(new Router(specs).match(normalizeHost(host)!, url)).toBe(want);
  });
});

interface HostRow {
  label: string;
  host: string | undefined;
  want: string;
}

const hostRows: HostRow[] = [
  { label: 'absent', host: undefined, want: '' },
  { label: 'empty', host: '', want: '' },
  { label: 'plain', host: 'iris.example.com', want: 'iris.example.com' },
  { label: 'mixed case', host: 'Iris.Example.COM', want: 'iris.example.com' },
  { label: 'port removed', host: 'iris.example.com:8080', want: 'iris.example.com' },
  { label: 'IPv4 with port', host: '10.0.0.1:80', want: '10.0.0.1' },
  { label: 'IPv6 loopback with port', host: '[::1]:8080', want: '[::1]' },
  { label: 'IPv6 without port', host: '[::1]', want: '[::1]' },
  { label: 'IPv6 mixed case with port', host: '[2001:DB8::1]:443', want: '[2001:db8::1]' },
];

describe('normalizeHost', () => {
  it.each(hostRows)('$label', ({ host, want }) => {
    expect(normalizeHost(host)).toBe(want);
  });
});

interface ModelRow {
  label: string;
  path: string;
  want: string | null;
}

const modelRows: ModelRow[] = [
  { label: 'V2 infer', path: '/v2/models/iris/infer', want: 'iris' },
  { label: 'V2 versioned infer', path: '/v2/models/iris/versions/1/infer', want: 'iris' },
  { label: 'V2 metadata', path: '/v2/models/iris', want: 'iris' },
  { label: 'V2 trailing slash', path: '/v2/models/iris/', want: 'iris' },
  { label: 'V1 predict', path: '/v1/models/iris:predict', want: 'iris' },
  { label: 'V1 explain', path: '/v1/models/iris:explain', want: 'iris' },
  { label: 'V1 status', path: '/v1/models/iris', want: 'iris' },
  { label: 'name with dashes and dots', path: '/v2/models/sk-iris.v2/infer', want: 'sk-iris.v2' },
  { label: 'percent-encoded space', path: '/v2/models/my%20model/infer', want: 'my model' },
  { label: 'percent-encoded unicode', path: '/v2/models/%C3%A9t%C3%A9/infer', want: 'été' },
  { label: 'malformed escape kept raw', path: '/v2/models/iris%E0%A4%A/infer', want: 'iris%E0%A4%A' },
  { label: 'lone percent kept raw', path: '/v2/models/%/infer', want: '%' },
  { label: 'bad hex kept raw', path: '/v2/models/%zz/infer', want: '%zz' },
  { label: 'empty V2 name', path: '/v2/models/', want: null },
  { label: 'empty V2 name then segment', path: '/v2/models//infer', want: null },
  { label: 'empty V1 name', path: '/v1/models/:predict', want: null },
  { label: 'V2 models list', path: '/v2/models', want: null },
  { label: 'V2 health', path: '/v2/health/ready', want: null },
  { label: 'unknown protocol version', path: '/v3/models/iris/infer', want: null },
  { label: 'root', path: '/', want: null },
  { label: 'models not at the start', path: '/api/v2/models/iris/infer', want: null },
];

describe('modelName', () => {
  it.each(modelRows)('$label', ({ path, want }) => {
    expect(modelName(path)).toBe(want);
  });
});

describe('Router.match with a model named outside the path (a gRPC call)', () => {
  const router = new Router<string>([
    { service: 'iris', hosts: [], model: 'iris' },
    { service: 'resnet', hosts: [], model: 'resnet' },
    { service: 'grpc-any', hosts: [], pathPrefix: '/inference.GRPCInferenceService' },
  ]);
  const PATH = '/inference.GRPCInferenceService/ModelInfer';
  it.each([
    ['iris', 'iris'],
    ['resnet', 'resnet'],
    ['unknown', 'grpc-any'],
    [null, 'grpc-any'],
  ] as const)('model %s → %s', (model, want) => {
    expect(router.match('a.test', PATH, model)).toBe(want);
  });

  it('the model given wins over one the path names', () => {
    expect(router.match('a.test', '/v2/models/resnet/infer', 'iris')).toBe('iris');
    expect(router.match('a.test', '/v2/models/resnet/infer')).toBe('resnet');
  });
});
