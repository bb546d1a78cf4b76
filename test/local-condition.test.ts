import { describe, expect, it } from 'vitest';
import { localCondition, type LocalConditionInput, type StartFailure } from '../src/scaler/local-condition.js';

const exit1: StartFailure = { cause: 'exit', code: 1, signal: null, wasReady: false, output: 'model file not found' };
const segv: StartFailure = { cause: 'exit', code: null, signal: 'SIGSEGV', wasReady: true, output: '' };
const spawn: StartFailure = {
  cause: 'spawn',
  code: null,
  signal: null,
  reason: 'spawn failed: spawn /nope ENOENT',
  wasReady: false,
  output: '',
};
const readiness: StartFailure = {
  cause: 'readiness',
  code: null,
  signal: null,
  reason: 'not ready within 1000 ms',
  wasReady: false,
  output: 'loading',
};

const base: LocalConditionInput = { desired: 0, ready: 0, failedStarts: 0, threshold: 3, failure: undefined };

describe('localCondition', () => {
  const cases: Array<[string, Partial<LocalConditionInput>, string, string, RegExp, string]> = [
    ['nothing wanted', {}, 'Ready', 'ScaledToZero', /scaled to zero/, ''],
    ['wanted, none ready', { desired: 2 }, 'Activating', 'Starting', /waiting for 2 replicas/, ''],
    ['ready', { desired: 1, ready: 1 }, 'Ready', 'Serving', /^1 ready replica$/, ''],
    ['ready wins over a failure', { desired: 2, ready: 1, failedStarts: 5, failure: exit1 }, 'Ready', 'Serving', /1 ready/, ''],
    [
      'one failed start of three',
      { desired: 1, failedStarts: 1, failure: exit1 },
      'Activating',
      'Restarting',
      /^start 1 of 3 failed: exited with code 1; restarting$/,
      'model file not found',
    ],
    [
      'three in a row',
      { desired: 1, failedStarts: 3, failure: exit1 },
      'Failed',
      'ExitCode',
      /^exited with code 1 before it was ready, 3 starts in a row$/,
      'model file not found',
    ],
    [
      'Failed stays at zero',
      { desired: 0, failedStarts: 3, failure: exit1 },
      'Failed',
      'ExitCode',
      /3 starts in a row/,
      'model file not found',
    ],
    ['below the threshold at zero', { desired: 0, failedStarts: 2, failure: exit1 }, 'Ready', 'ScaledToZero', /scaled to zero/, ''],
    [
      'threshold 1',
      { desired: 1, failedStarts: 1, threshold: 1, failure: exit1 },
      'Failed',
      'ExitCode',
      /on its first start$/,
      'model file not found',
    ],
    [
      'died soon after ready',
      { desired: 1, failedStarts: 3, failure: segv },
      'Failed',
      'CrashLoop',
      /^killed by SIGSEGV soon after it was ready, 3 starts in a row$/,
      '',
    ],
    [
      'spawn error at once',
      { desired: 1, failedStarts: 1, failure: spawn },
      'Failed',
      'SpawnError',
      /^spawn failed: spawn \/nope ENOENT, on its first start$/,
      '',
    ],
    [
      'readiness timeout at once',
      { desired: 1, failedStarts: 1, failure: readiness },
      'Failed',
      'ReadinessTimeout',
      /^not ready within 1000 ms, on its first start$/,
      'loading',
    ],
  ];
  it.each(cases)('%s', (_name, input, status, reason, message, output) => {
    const condition = localCondition({ ...base, ...input }, 1000);
    expect(condition).toMatchObject({ status, reason, output, since: 1000 });
    expect(condition.message).toMatch(message);
  });

  it('keeps `since` while status and reason stay, and moves it when they change', () => {
    const first = localCondition({ ...base, desired: 1, failedStarts: 1, failure: exit1 }, 1000);
    const second = localCondition({ ...base, desired: 1, failedStarts: 2, failure: exit1 }, 2000, first);
    expect(second.since).toBe(1000);
    expect(second.message).toMatch(/start 2 of 3/);
    const failed = localCondition({ ...base, desired: 1, failedStarts: 3, failure: exit1 }, 3000, second);
    expect(failed.since).toBe(3000);
  });
});
