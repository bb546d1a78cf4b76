/**
 * Lease leader election against the fake API server with the real client. Lease durations are a few
 * seconds; every timing bound is a multiple of the lease duration, never a tight figure.
 */
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaderElector, mayAcquire, type LeaderElectorOptions, type LeaseRecord } from '../src/kube/leader-election.js';
import { MicroTime, parseMicroTime } from '../src/kube/micro-time.js';
import { FakeKubeServer, LEASES, loadKubeConfig, waitFor } from './support/fake-kube/index.js';

const NS = 'default';
const LEASE = 'sluice-autoscaler';
const LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${LEASE}`;
/** Lease 2 s → renew every ~667 ms, give up leading after ~1333 ms without renewal. */
const LEASE_SECONDS = 2;

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Candidate {
  elector: LeaderElector;
  events: string[];
}

async function setup() {
  const fake = await FakeKubeServer.start();
  cleanups.push(() => fake.close());
  const kc = await loadKubeConfig(fake.url);
  /** Number of candidates that believe they lead, and the most ever at once. */
  const leaders = { now: 0, max: 0 };
  const candidate = (identity: string, options: Partial<LeaderElectorOptions> = {}): Candidate => {
    const events: string[] = [];
    const elector = new LeaderElector({
      kubeConfig: kc,
      namespace: NS,
      name: LEASE,
      identity,
      leaseDurationSeconds: LEASE_SECONDS,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      onStartedLeading: () => {
        events.push('started');
        leaders.now++;
        leaders.max = Math.max(leaders.max, leaders.now);
      },
      onStoppedLeading: () => {
        events.push('stopped');
        leaders.now--;
      },
      ...options,
    });
    cleanups.push(() => elector.stop({ release: false }));
    return { elector, events };
  };
  const lease = () =>
    fake.store.get(LEASES, NS, LEASE).spec as {
      holderIdentity: string;
      leaseTransitions: number;
      acquireTime: string;
      renewTime: string;
      leaseDurationSeconds: number;
    };
  return { fake, kc, candidate, leaders, lease };
}

describe('mayAcquire (pure)', () => {
  const record = (holderIdentity: string): LeaseRecord => ({
    holderIdentity,
    leaseDurationSeconds: 15,
    acquireTime: undefined,
    renewTime: undefined,
    leaseTransitions: 0,
  });
  const rows = [
    { label: 'nobody holds it', holder: '', observedAt: 100_000, now: 100_001, want: true },
    { label: 'this candidate holds it', holder: 'a', observedAt: 100_000, now: 100_001, want: true },
    { label: 'held by another, seen changing 14.999 s ago', holder: 'b', observedAt: 100_000, now: 114_999, want: false },
    { label: 'held by another, unchanged for the lease duration', holder: 'b', observedAt: 100_000, now: 115_000, want: true },
  ];
  for (const row of rows) it(row.label, () => expect(mayAcquire(record(row.holder), 'a', row.observedAt, row.now)).toBe(row.want));
});

describe('MicroTime', () => {
  it('writes six fractional digits and reads them back', () => {
    const t = parseMicroTime('2026-11-25T14:00:00.123456Z')!;
    expect(t.toISOString()).toBe('2026-11-25T14:00:00.123456Z');
    expect(JSON.stringify({ t })).toBe('{"t":"2026-11-25T14:00:00.123456Z"}');
    expect(new MicroTime(Date.parse('2026-11-25T14:00:00.5Z')).toISOString()).toBe('2026-11-25T14:00:00.500000Z');
    expect(parseMicroTime('2026-11-25T14:00:00Z')!.toISOString()).toBe('2026-11-25T14:00:00.000000Z');
    expect(parseMicroTime('not a time')).toBeUndefined();
  });
});

describe('LeaderElector', { timeout: 30_000 }, () => {
  it('creates the Lease and leads alone; MicroTime on the wire; renewals keep acquireTime', async () => {
    const { candidate, lease, fake } = await setup();
    const a = candidate('gw-a');
    a.elector.start();
    await waitFor(() => a.elector.isLeader(), 'a to lead', LEASE_SECONDS * 3000);
    expect(fake.requests({ method: 'POST' })).toHaveLength(1);
    const first = lease();
    expect(first).toMatchObject({ holderIdentity: 'gw-a', leaseDurationSeconds: LEASE_SECONDS, leaseTransitions: 0 });
    expect(first.renewTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    await waitFor(() => lease().renewTime !== first.renewTime, 'a renewal', LEASE_SECONDS * 3000);
    expect(lease().acquireTime).toBe(first.acquireTime);
    expect(a.elector.leader()).toBe('gw-a');
  });

  it('lets exactly one of two candidates lead', async () => {
    const { candidate, leaders, lease } = await setup();
    const a = candidate('gw-a');
    const b = candidate('gw-b');
    a.elector.start();
    b.elector.start();
    await waitFor(() => a.elector.isLeader() || b.elector.isLeader(), 'a leader', LEASE_SECONDS * 3000);
    // Several renew periods later still exactly one, and never two at once.
    await new Promise((r) => setTimeout(r, LEASE_SECONDS * 1500));
    expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(leaders.max).toBe(1);
    const holder = a.elector.isLeader() ? 'gw-a' : 'gw-b';
    expect(lease().holderIdentity).toBe(holder);
    expect(a.elector.leader()).toBe(holder);
    expect(b.elector.leader()).toBe(holder);
  });

  it('hands over after the leader stops renewing (a crash) within a few lease durations, counting the transition', async () => {
    const { candidate, lease, leaders } = await setup();
    const a = candidate('gw-a');
    a.elector.start();
    await waitFor(() => a.elector.isLeader(), 'a to lead', LEASE_SECONDS * 3000);
    const b = candidate('gw-b');
    b.elector.start();
    await waitFor(() => b.elector.leader() === 'gw-a', 'b to see a leading', LEASE_SECONDS * 3000);

    await a.elector.stop({ release: false }); // no release: the lease still names gw-a
    const last = lease();
    expect(last.holderIdentity).toBe('gw-a');
    expect(b.elector.isLeader()).toBe(false);
    await waitFor(() => b.elector.isLeader(), 'b to take over', LEASE_SECONDS * 3000);
    // b waited out the lease counted from a's last renewal (10 % off for clock granularity).
    expect(Date.now() - Date.parse(last.renewTime)).toBeGreaterThan(LEASE_SECONDS * 1000 * 0.9);
    expect(lease()).toMatchObject({ holderIdentity: 'gw-b', leaseTransitions: 1 });
    expect(leaders.max).toBe(1);
    expect(a.events).toEqual(['started', 'stopped']);
  });

  it('hands over at once after a graceful release', async () => {
    const { candidate, lease } = await setup();
    const long = 6; // a lease long enough that waiting it out would be unmistakable
    const a = candidate('gw-a', { leaseDurationSeconds: long });
    a.elector.start();
    await waitFor(() => a.elector.isLeader(), 'a to lead', long * 3000);
    const b = candidate('gw-b', { leaseDurationSeconds: long, retryPeriodMs: 200 });
    b.elector.start();
    await waitFor(() => b.elector.leader() === 'gw-a', 'b to see a leading', long * 3000);

    await a.elector.stop();
    expect(lease()).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
    const releasedAt = Date.now();
    await waitFor(() => b.elector.isLeader(), 'b to take over', long * 3000);
    expect(Date.now() - releasedAt).toBeLessThan((long * 1000) / 2); // far sooner than the lease would expire
    expect(lease()).toMatchObject({ holderIdentity: 'gw-b', leaseTransitions: 1, leaseDurationSeconds: long });
  });

  it('reads again after 409 Conflict and still acquires', async () => {
    const { candidate, fake, kc, lease } = await setup();
    // An expired lease held by someone else, so the candidate must replace it.
    await kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name: LEASE },
        spec: { holderIdentity: 'gone', leaseDurationSeconds: 1, renewTime: new MicroTime(Date.now() - 60_000), leaseTransitions: 4 },
      },
    });
    fake.failNext({ method: 'PUT', path: LEASE_PATH, times: 2, code: 409 });
    const a = candidate('gw-a', { leaseDurationSeconds: 2 });
    a.elector.start();
    await waitFor(() => a.elector.isLeader(), 'a to lead despite conflicts', LEASE_SECONDS * 5000);
    expect(
      fake
        .requests({ method: 'PUT', path: LEASE_PATH })
        .map((r) => r.status)
        .slice(0, 3),
    ).toEqual([409, 409, 200]);
    expect(lease()).toMatchObject({ holderIdentity: 'gw-a', leaseTransitions: 5 });
  });

  it('stops leading when it cannot renew, and leads again once the API server is back', async () => {
    const { candidate, fake } = await setup();
    const a = candidate('gw-a');
    a.elector.start();
    await waitFor(() => a.elector.isLeader(), 'a to lead', LEASE_SECONDS * 3000);
    await fake.stop();
    // The renew deadline (2/3 of the lease) passes before the lease could expire for others.
    await waitFor(() => !a.elector.isLeader(), 'a to stop leading', LEASE_SECONDS * 2000);
    expect(a.events).toEqual(['started', 'stopped']);
    await fake.start();
    await waitFor(() => a.elector.isLeader(), 'a to lead again', LEASE_SECONDS * 3000);
    expect(a.events).toEqual(['started', 'stopped', 'started']);
  });

  it('refuses timings that could let two leaders overlap', () => {
    const base = { kubeConfig: {} as KubeConfig, namespace: NS, name: LEASE, identity: 'x' };
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 10, renewDeadlineMs: 10_000 })).toThrow(/renewDeadlineMs/);
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 10, renewDeadlineMs: 5000, retryPeriodMs: 4500 })).toThrow(
      /retryPeriodMs/,
    );
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 0 })).toThrow(/leaseDurationSeconds/);
  });
});
