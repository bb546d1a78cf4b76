import { afterEach, describe, expect, it, vi } from 'vitest';
import { pickEndpoint, pickEndpointExcept } from '../src/gateway/balancer.js';
import { createEndpoint, type Endpoint } from '../src/core/endpoint.js';

/** One endpoint's state: requests in flight, and whether it is draining. */
interface EndpointState {
  inflight: number;
  draining?: boolean;
}

/** Endpoints on 10.0.0.1:9000, :9001, … with the given states; the index is the port offset. */
function endpoints(states: readonly EndpointState[]): Endpoint[] {
  return states.map((s, i) => {
    const ep = createEndpoint(`http://10.0.0.1:${9000 + i}`);
    ep.inflight = s.inflight;
    ep.draining = s.draining ?? false;
    return ep;
  });
}

/** `n` endpoints with `inflight` each. */
function many(n: number, inflight: number): EndpointState[] {
  return Array.from({ length: n }, () => ({ inflight }));
}

function hasRoom(ep: Endpoint, cc: number): boolean {
  return !ep.draining && (cc === 0 || ep.inflight < cc);
}

interface PickRow {
  label: string;
  states: EndpointState[];
  /** containerConcurrency; 0 = unbounded. */
  cc: number;
  /** Index of the endpoint pickEndpointExcept must skip; absent → pickEndpoint. */
  except?: number;
  /** Index of the endpoint wanted, or undefined when none may be picked. */
  want: number | undefined;
}

const pickRows: PickRow[] = [
  { label: 'no endpoints', states: [], cc: 0, want: undefined },
  { label: 'one idle endpoint', states: [{ inflight: 0 }], cc: 0, want: 0 },
  { label: 'least in flight wins', states: [{ inflight: 3 }, { inflight: 1 }, { inflight: 2 }], cc: 0, want: 1 },
  { label: 'least in flight wins when last', states: [{ inflight: 3 }, { inflight: 2 }, { inflight: 0 }], cc: 0, want: 2 },
  { label: 'tie goes to the first', states: [{ inflight: 1 }, { inflight: 1 }], cc: 0, want: 0 },
  { label: 'cc 0 is unbounded', states: [{ inflight: 10_000 }], cc: 0, want: 0 },
  { label: 'cc 1, idle endpoint has room', states: [{ inflight: 0 }], cc: 1, want: 0 },
  { label: 'cc 1, busy endpoint is full', states: [{ inflight: 1 }], cc: 1, want: undefined },
  { label: 'full endpoint skipped', states: [{ inflight: 4 }, { inflight: 3 }], cc: 4, want: 1 },
  { label: 'over-full endpoint skipped', states: [{ inflight: 7 }, { inflight: 2 }], cc: 4, want: 1 },
  { label: 'all full', states: [{ inflight: 2 }, { inflight: 2 }, { inflight: 3 }], cc: 2, want: undefined },
  { label: 'draining endpoint never picked', states: [{ inflight: 0, draining: true }, { inflight: 5 }], cc: 0, want: 1 },
  { label: 'draining endpoint never picked under cc', states: [{ inflight: 0, draining: true }, { inflight: 1 }], cc: 2, want: 1 },
  {
    label: 'all draining',
    states: [
      { inflight: 0, draining: true },
      { inflight: 0, draining: true },
    ],
    cc: 0,
    want: undefined,
  },
  { label: 'draining or full', states: [{ inflight: 0, draining: true }, { inflight: 2 }], cc: 2, want: undefined },
  { label: 'sixteen endpoints are scanned: the one idle one wins', states: [...many(15, 3), { inflight: 0 }], cc: 0, want: 15 },

  // Retry path: the endpoint that just refused a connection is skipped.
  { label: 'except skips the least loaded', states: [{ inflight: 0 }, { inflight: 1 }, { inflight: 2 }], cc: 0, except: 0, want: 1 },
  { label: 'except leaves the least loaded when it skips another', states: [{ inflight: 0 }, { inflight: 1 }], cc: 0, except: 1, want: 0 },
  { label: 'except with only that endpoint', states: [{ inflight: 0 }], cc: 0, except: 0, want: undefined },
  { label: 'except still skips full endpoints', states: [{ inflight: 0 }, { inflight: 2 }, { inflight: 1 }], cc: 2, except: 0, want: 2 },
  {
    label: 'except still skips draining endpoints',
    states: [{ inflight: 0 }, { inflight: 0, draining: true }, { inflight: 4 }],
    cc: 0,
    except: 0,
    want: 2,
  },
  { label: 'except with the rest full', states: [{ inflight: 0 }, { inflight: 1 }], cc: 1, except: 0, want: undefined },
  { label: 'except over many endpoints', states: [{ inflight: 0 }, ...many(20, 5), { inflight: 1 }], cc: 0, except: 0, want: 21 },
];

describe('pickEndpoint and pickEndpointExcept', () => {
  it.each(pickRows)('$label', ({ states, cc, except, want }) => {
    const eps = endpoints(states);
    const got = except === undefined ? pickEndpoint(eps, cc) : pickEndpointExcept(eps, cc, eps[except]!);
    expect(got).toBe(want === undefined ? undefined : eps[want]);
  });
});

interface ManyRow {
  label: string;
  states: EndpointState[];
  cc: number;
  /** Indices that are allowed answers; empty = every pick must be undefined. */
  wantAmong: number[];
}

const manyRows: ManyRow[] = [
  { label: '17 idle endpoints, unbounded', states: many(17, 0), cc: 0, wantAmong: [...Array(17).keys()] },
  {
    label: 'one endpoint with room among 40 full ones',
    states: [...many(20, 4), { inflight: 3 }, ...many(20, 4)],
    cc: 4,
    wantAmong: [20],
  },
  {
    label: 'one non-draining endpoint among 39 draining idle ones',
    states: [...Array.from({ length: 39 }, () => ({ inflight: 0, draining: true })), { inflight: 9 }],
    cc: 0,
    wantAmong: [39],
  },
  {
    // The idle ones are draining, so least-in-flight must not win over having room.
    label: 'draining idle and full busy mixed, two with room',
    states: Array.from({ length: 32 }, (_, i): EndpointState =>
      i === 7 || i === 25 ? { inflight: 1 } : i % 2 === 0 ? { inflight: 0, draining: true } : { inflight: 2 },
    ),
    cc: 2,
    wantAmong: [7, 25],
  },
  { label: '64 endpoints all full', states: many(64, 8), cc: 8, wantAmong: [] },
  { label: '20 endpoints all draining', states: Array.from({ length: 20 }, () => ({ inflight: 0, draining: true })), cc: 0, wantAmong: [] },
];

describe('pickEndpoint over more than 16 endpoints (power of two choices)', () => {
  it.each(manyRows)('$label', ({ states, cc, wantAmong }) => {
    const eps = endpoints(states);
    const allowed = new Set(wantAmong.map((i) => eps[i]!));
    for (let i = 0; i < 2_000; i++) {
      const got = pickEndpoint(eps, cc);
      if (wantAmong.length === 0) {
        expect(got).toBeUndefined();
        continue;
      }
      expect(got).toBeDefined();
      expect(allowed.has(got!)).toBe(true);
      expect(hasRoom(got!, cc)).toBe(true);
    }
  });
});

interface SampleRow {
  label: string;
  states: EndpointState[];
  cc: number;
  /** The two endpoint indices the random draws land on. */
  samples: [number, number];
  want: number;
}

const sampleRows: SampleRow[] = [
  { label: 'less loaded of the two samples', states: [...many(10, 5), { inflight: 2 }, ...many(9, 5)], cc: 0, samples: [3, 10], want: 10 },
  {
    label: 'less loaded of the two, first drawn',
    states: [...many(10, 5), { inflight: 2 }, ...many(9, 5)],
    cc: 0,
    samples: [10, 3],
    want: 10,
  },
  {
    label: 'the other sample when the less loaded is draining',
    states: [...many(4, 5), { inflight: 0, draining: true }, ...many(15, 5)],
    cc: 0,
    samples: [4, 6],
    want: 6,
  },
  {
    label: 'a scan when the less loaded sample is draining and the other full',
    states: Array.from({ length: 20 }, (_, i): EndpointState =>
      i === 4 ? { inflight: 0, draining: true } : i === 10 ? { inflight: 1 } : { inflight: 3 },
    ),
    cc: 3,
    samples: [4, 6],
    want: 10,
  },
  {
    label: 'a scan when both samples are full',
    states: [...many(18, 2), { inflight: 1 }, { inflight: 0 }],
    cc: 2,
    samples: [0, 1],
    want: 19,
  },
];

describe('pickEndpoint samples two endpoints when there are more than 16', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each(sampleRows)('$label', ({ states, cc, samples, want }) => {
    const eps = endpoints(states);
    const draws = samples.map((i) => (i + 0.5) / eps.length);
    let next = 0;
    vi.spyOn(Math, 'random').mockImplementation(() => draws[next++ % draws.length]!);
    expect(pickEndpoint(eps, cc)).toBe(eps[want]);
  });
});

describe('createEndpoint', () => {
  it.each([
    { label: 'IPv4', origin: 'http://10.0.0.1:9000', wantId: '10.0.0.1:9000', wantOrigin: 'http://10.0.0.1:9000' },
    { label: 'trailing slash dropped', origin: 'http://127.0.0.1:8080/', wantId: '127.0.0.1:8080', wantOrigin: 'http://127.0.0.1:8080' },
    { label: 'IPv6', origin: 'http://[::1]:9000', wantId: '[::1]:9000', wantOrigin: 'http://[::1]:9000' },
  ])('$label', ({ origin, wantId, wantOrigin }) => {
    const ep = createEndpoint(origin);
    expect(ep).toEqual({ id: wantId, origin: wantOrigin, inflight: 0, draining: false, ejectedUntil: 0 });
  });
});

describe('ejection', () => {
  it('skips an endpoint until its ejection is over, then uses it again', () => {
    const a = createEndpoint('http://127.0.0.1:1');
    const b = createEndpoint('http://127.0.0.1:2');
    a.ejectedUntil = Date.now() + 60_000;
    for (let i = 0; i < 10; i++) expect(pickEndpoint([a, b], 0)).toBe(b);
    b.ejectedUntil = Date.now() + 60_000;
    expect(pickEndpoint([a, b], 0)).toBeUndefined();
    a.ejectedUntil = Date.now() - 1;
    expect(pickEndpoint([a, b], 0)).toBe(a);
    expect(a.ejectedUntil).toBe(0);
  });
});
