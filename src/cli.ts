#!/usr/bin/env node
/**
 * `sluice <command>`: each command lives in its own module and is loaded on demand, so
 * `sluice predictor` does not pay for the gateway's imports.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number | void> }> }> = {
  gateway: { summary: 'run the gateway (data port + admin API)', load: () => import('./cli/gateway.js') },
  predictor: { summary: 'run the demo KServe V2 predictor', load: () => import('./predictor/main.js') },
  status: { summary: 'show services, revisions, replicas and rollouts (admin API)', load: () => import('./cli/status.js') },
  traffic: { summary: 'set the traffic split and tags of a service (admin API)', load: () => import('./cli/traffic.js') },
  rollout: { summary: 'start, abort or show a canary / blue-green rollout (admin API)', load: () => import('./cli/rollout.js') },
  loadtest: { summary: 'run a load-test scenario and write its report (or compare two runs)', load: () => import('./cli/loadtest.js') },
  'queue-proxy': { summary: 'run the per-pod sidecar: concurrency limit, stats, drain', load: () => import('./queue-proxy/main.js') },
};

const USAGE = `usage: sluice <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

Run 'sluice <command> --help' for a command's options.`;

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? 2 : 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`sluice: unknown command "${command}"\n\n${USAGE}\n`);
    return 2;
  }
  const mod = await entry.load();
  return (await mod.main(rest)) ?? 0;
}

/**
 * A command that failed has nothing left to do, so the process ends with its code. It should end by
 * itself, everything it started closed; this is the net for a handle that was not: an unref'd timer,
 * so it fires only when something else still holds the event loop open, and says what that was.
 * No log line is lost by exiting: pino's JSON destination flushes its buffer synchronously on
 * 'exit', and the pretty one writes synchronously.
 */
const FAILED_EXIT_GRACE_MS = 2_000;

function fail(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    process.stderr.write(
      `sluice: still running ${FAILED_EXIT_GRACE_MS} ms after failing (open: ${process.getActiveResourcesInfo().join(', ')}); exiting\n`,
    );
    process.exit(code);
  }, FAILED_EXIT_GRACE_MS).unref();
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) fail(code);
  },
  (err: unknown) => {
    process.stderr.write(`sluice: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    fail(1);
  },
);
