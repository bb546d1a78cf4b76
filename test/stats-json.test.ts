/** What a stats reader accepts from `/api/v1/stats` answers: stats, or silence — never zeros from other JSON. */
import { describe, expect, it } from 'vitest';
import { gatewaySample, queueProxySample } from '../src/stats/stats-json.js';

const second = (s: number) => ({ second: s, averageConcurrency: 2, averageProxiedConcurrency: 1, requestCount: 3, proxiedRequestCount: 1 });
const gwSecond = (s: number) => ({ second: s, concurrency: 2, requests: 3 });

describe('gatewaySample', () => {
  const rows: Array<{ label: string; body: unknown; want: unknown }> = [
    { label: 'not an object', body: 'hello', want: undefined },
    { label: 'null', body: null, want: undefined },
    { label: 'other JSON', body: { hello: 'world' }, want: undefined },
    { label: 'no revisions', body: { now: 1, revisions: [] }, want: { revisions: [] } },
    {
      label: 'a revision with its seconds (other fields ignored)',
      body: { now: 1, revisions: [{ service: 'shop', revision: 'shop-1', inflight: 3, seconds: [gwSecond(9), gwSecond(10)] }] },
      want: { revisions: [{ service: 'shop', revision: 'shop-1', seconds: [gwSecond(9), gwSecond(10)] }] },
    },
    {
      label: 'malformed revisions dropped, malformed seconds dropped',
      body: {
        revisions: [
          null,
          { service: 1, revision: 'x', seconds: [] },
          { service: 's', revision: 'r' },
          { service: 's', revision: 'r', seconds: [gwSecond(1), { second: 2 }, null, { ...gwSecond(3), requests: Infinity }] },
        ],
      },
      want: { revisions: [{ service: 's', revision: 'r', seconds: [gwSecond(1)] }] },
    },
  ];
  for (const row of rows) it(row.label, () => expect(gatewaySample(row.body)).toEqual(row.want));
});

describe('queueProxySample', () => {
  const good = {
    now: 11_100,
    lastSecond: second(10),
    inflight: 2,
    held: 1,
    draining: false,
    podName: 'p-1',
    seconds: [second(9), second(10)],
  };
  const rows: Array<{ label: string; body: unknown; want: unknown }> = [
    { label: 'other JSON', body: { hello: 'world' }, want: undefined },
    { label: 'null', body: null, want: undefined },
    { label: 'lastSecond not an object', body: { ...good, lastSecond: 5 }, want: undefined },
    { label: 'lastSecond missing a number', body: { ...good, lastSecond: { ...second(10), requestCount: '3' } }, want: undefined },
    { label: 'no inflight', body: { ...good, inflight: undefined }, want: undefined },
    { label: 'held not finite', body: { ...good, held: NaN }, want: undefined },
    {
      label: 'a whole answer',
      body: good,
      want: { lastSecond: second(10), seconds: [second(9), second(10)], inflight: 2, held: 1, draining: false, podName: 'p-1' },
    },
    {
      label: 'no seconds (an older queue-proxy): its last second',
      body: { ...good, seconds: undefined },
      want: { lastSecond: second(10), seconds: [second(10)], inflight: 2, held: 1, draining: false, podName: 'p-1' },
    },
    {
      label: 'malformed seconds dropped',
      body: { ...good, seconds: [null, { second: 9 }, second(10)] },
      want: expect.objectContaining({ seconds: [second(10)] }),
    },
    {
      label: 'draining only when true; podName only a string',
      body: { ...good, draining: 'yes', podName: 7 },
      want: expect.objectContaining({ draining: false, podName: undefined }),
    },
  ];
  for (const row of rows) it(row.label, () => expect(queueProxySample(row.body)).toEqual(row.want));
});
