/** The benchmark's TLS rows: nginx's `ssl` server beside the cleartext one, and the TLS pair's ratio in the fixed-rate figures. */
import { describe, expect, it } from 'vitest';
import { fixedRateLines, fixedRateTable, summarizeFixedRate, type RateSample } from '../loadtest/fixed-rate.js';
import { nginxConfig } from '../loadtest/nginx.js';
import { ratioLines, ratios, type TargetRow } from '../loadtest/report.js';

const run = (target: string, round: number, proxy: number): RateSample => ({
  target,
  round,
  requestedRps: 3000,
  rps: 3000,
  proxyCpuUsPerReq: proxy,
  predictorCpuUsPerReq: 50,
});

describe('nginx config for the TLS rows', () => {
  const certificate = { certFile: '/tmp/b/bench.crt', keyFile: '/tmp/b/bench.key' };

  it('adds an ssl server with the certificate over the same upstream', () => {
    const conf = nginxConfig('/tmp/n', 8001, new URL('http://127.0.0.1:9000'), { tls: { port: 8002, certificate } });
    expect(conf).toContain('listen 127.0.0.1:8001;');
    expect(conf).toContain('listen 127.0.0.1:8002 ssl;');
    expect(conf).toContain('ssl_certificate /tmp/b/bench.crt;');
    expect(conf).toContain('ssl_certificate_key /tmp/b/bench.key;');
    expect(conf).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
    expect(conf.match(/proxy_pass http:\/\/predictor;/g)).toHaveLength(2);
  });

  it('has no ssl server without a certificate', () => {
    expect(nginxConfig('/tmp/n', 8001, new URL('http://127.0.0.1:9000'))).not.toContain('ssl');
  });
});

describe('fixed-rate figures with the TLS rows', () => {
  const runs = [
    run('gateway', 1, 40),
    run('nginx', 1, 16),
    run('gateway-tls', 1, 60),
    run('nginx-tls', 1, 30),
    run('gateway', 2, 44),
    run('nginx', 2, 20),
    run('gateway-tls', 2, 66),
    run('nginx-tls', 2, 33),
  ];
  const s = summarizeFixedRate(runs, 3000, 2);

  it('has the TLS pair’s ratio beside the cleartext one', () => {
    expect(s.gatewayVsNginx.perRound).toEqual([2.5, 2.2]);
    expect(s.tlsGatewayVsNginx?.perRound).toEqual([2, 2]);
    expect(s.tlsGatewayVsNginx?.ofMedians).toBeCloseTo(63 / 31.5);
  });

  it('tabulates and headlines it', () => {
    const rows = fixedRateTable(s)
      .split('\n')
      .map((l) => l.split(/ {2,}/));
    expect(rows).toContainEqual(['gateway-tls ÷ nginx-tls', '2.00', '2.00', '2.00']);
    expect(fixedRateLines(s)).toContain(
      'gateway-tls / nginx-tls CPU per request (HTTP/1.1 over TLS, the same rounds): 2.00× (budget ≤ 2.5×) — within budget',
    );
  });

  it('leaves the TLS figures out when those rows did not run', () => {
    const clear = summarizeFixedRate(runs.slice(0, 2), 3000, 1);
    expect(clear.tlsGatewayVsNginx).toBeUndefined();
    expect(fixedRateLines(clear)).not.toContain('gateway-tls');
  });
});

describe('saturation ratios with the TLS rows', () => {
  const row = (target: string, cpu: number): TargetRow => ({
    target,
    url: 'x',
    rps: 1000,
    p50Ms: 1,
    p99Ms: 2,
    ok: 1000,
    non2xx: 0,
    errors: 0,
    wallS: 1,
    proxyCpuMs: null,
    proxyCpuUsPerReq: cpu,
    predictorCpuMs: null,
    predictorCpuUsPerReq: 20,
    clientCpuUsPerReq: null,
    otherCpus: 0,
    warmupNon2xx: 0,
    warmupErrors: 0,
  });

  it('gives gateway-tls ÷ nginx-tls', () => {
    const r = ratios([row('direct', 0), row('gateway', 30), row('nginx', 12), row('gateway-tls', 45), row('nginx-tls', 20)]);
    expect(r.tlsGatewayVsNginxCpu).toBeCloseTo(2.25);
    expect(ratioLines(r)).toContain('gateway-tls / nginx-tls CPU per request at saturation (HTTP/1.1 over TLS): 2.25×');
  });
});
