import { describe, expect, it } from 'vitest';
import { normalizeHost } from '../src/gateway/host.js';
import { normalizeTarget, targetProblemMessage } from '../src/gateway/request-target.js';

interface TargetRow {
  label: string;
  target: string;
  /** The normalised target, or the problem (a TargetProblem: 'above-root', 'bad-escape' …). */
  want: string;
}

const targetRows: TargetRow[] = [
  { label: 'a plain path is left as it is', target: '/v2/models/iris/infer', want: '/v2/models/iris/infer' },
  { label: 'the root', target: '/', want: '/' },
  { label: 'a query is left as sent', target: '/a?next=/../b&x=%2e%2e', want: '/a?next=/../b&x=%2e%2e' },
  { label: 'a dot segment is removed', target: '/a/./b', want: '/a/b' },
  { label: 'a double-dot segment drops the one before it', target: '/public/../private', want: '/private' },
  { label: 'model routing cannot be escaped with dot segments', target: '/v2/models/iris/../../../admin', want: '/admin' },
  { label: 'a trailing dot segment keeps the slash', target: '/a/b/.', want: '/a/b/' },
  { label: 'a trailing double-dot keeps the slash', target: '/a/b/..', want: '/a/' },
  { label: 'back to the root', target: '/a/..', want: '/' },
  { label: 'only a dot', target: '/.', want: '/' },
  { label: 'with a query after the dot segments', target: '/a/../b?q=1', want: '/b?q=1' },
  { label: 'names that start with dots are not dot segments', target: '/a/.well-known/..x/...', want: '/a/.well-known/..x/...' },
  { label: 'empty segments are kept', target: '/a//b/', want: '/a//b/' },
  { label: 'an empty segment before .. is the one dropped', target: '/a//..', want: '/a/' },
  { label: '%2e is a dot (RFC 3986 §2.3)', target: '/v2/models/iris/%2e%2e/%2E%2E/admin', want: '/v2/admin' },
  { label: 'mixed %2e and dots', target: '/a/.%2e/b', want: '/b' },
  { label: 'an encoded unreserved letter is decoded', target: '/%7Euser/%41', want: '/~user/A' },
  { label: 'other escapes are upper-cased, not decoded', target: '/a%2fb/c%3a', want: '/a%2Fb/c%3A' },
  { label: '%2F is data inside a segment, not a separator', target: '/a/..%2F..%2Fadmin', want: '/a/..%2F..%2Fadmin' },
  { label: 'an encoded space stays encoded', target: '/my%20model', want: '/my%20model' },
  { label: 'non-ASCII escapes stay encoded', target: '/%C3%A9t%C3%A9', want: '/%C3%A9t%C3%A9' },
  { label: 'climbing above the root is refused', target: '/../etc/passwd', want: 'above-root' },
  { label: 'climbing above the root later in the path', target: '/a/../../b', want: 'above-root' },
  { label: 'climbing above the root with %2e', target: '/%2e%2e/etc', want: 'above-root' },
  { label: 'a lone % is refused', target: '/a%', want: 'bad-escape' },
  { label: 'a % with one hex digit', target: '/a%4', want: 'bad-escape' },
  { label: 'a % with a non-hex digit', target: '/a%zz', want: 'bad-escape' },
  { label: 'a fragment is refused', target: '/a#frag', want: 'fragment' },
  { label: 'absolute-form is not served', target: 'http://169.254.169.254/latest', want: 'not-origin-form' },
  { label: 'authority-form is not served', target: 'example.com:443', want: 'not-origin-form' },
  { label: 'asterisk-form is not served', target: '*', want: 'not-origin-form' },
  { label: 'an empty target', target: '', want: 'not-origin-form' },
];

describe('normalizeTarget', () => {
  it.each(targetRows)('$label', ({ target, want }) => {
    const got = normalizeTarget(target);
    expect(typeof got === 'string' ? got : got.problem).toBe(want);
  });

  it('returns the same string when there is nothing to normalise (no copy on the common path)', () => {
    const target = '/v2/models/iris/infer?x=1';
    expect(normalizeTarget(target)).toBe(target);
  });

  it('has a message for every problem', () => {
    for (const problem of ['not-origin-form', 'fragment', 'bad-escape', 'above-root'] as const)
      expect(targetProblemMessage(problem)).toMatch(/\w/);
  });
});

interface HostRow {
  label: string;
  host: string | undefined;
  /** undefined: refused. */
  want: string | undefined;
}

const hostRows: HostRow[] = [
  { label: 'absent is the empty host', host: undefined, want: '' },
  { label: 'empty is the empty host', host: '', want: '' },
  { label: 'plain', host: 'iris.example.com', want: 'iris.example.com' },
  { label: 'lower-cased', host: 'Iris.Example.COM', want: 'iris.example.com' },
  { label: 'port removed', host: 'iris.example.com:8080', want: 'iris.example.com' },
  { label: 'trailing dot removed', host: 'iris.example.com.', want: 'iris.example.com' },
  { label: 'trailing dot and port', host: 'Iris.example.com.:443', want: 'iris.example.com' },
  { label: 'an empty port is allowed (RFC 3986 §3.2.3)', host: 'iris.example.com:', want: 'iris.example.com' },
  { label: 'port 65535', host: 'a:65535', want: 'a' },
  { label: 'IPv4', host: '10.0.0.1:80', want: '10.0.0.1' },
  { label: 'IPv6 with port', host: '[::1]:8080', want: '[::1]' },
  { label: 'IPv6 lower-cased', host: '[2001:DB8::1]', want: '[2001:db8::1]' },
  { label: 'underscores and tildes are reg-name characters', host: 'my_host~1', want: 'my_host~1' },
  { label: 'port 65536 refused', host: 'a:65536', want: undefined },
  { label: 'a six-digit port refused', host: 'a:000080', want: undefined },
  { label: 'a port with letters refused', host: 'a:8o', want: undefined },
  { label: 'two ports refused', host: 'a:80:80', want: undefined },
  { label: 'a space refused', host: 'a b', want: undefined },
  { label: 'a slash refused', host: 'a/b', want: undefined },
  { label: 'userinfo refused', host: 'user@a', want: undefined },
  { label: 'a quote refused (it would break Forwarded)', host: 'a"b', want: undefined },
  { label: 'a port alone refused', host: ':80', want: undefined },
  { label: 'only a dot refused', host: '.', want: undefined },
  { label: 'an unclosed IPv6 literal refused', host: '[::1', want: undefined },
  { label: 'an empty IPv6 literal refused', host: '[]', want: undefined },
  { label: 'a non-hex IPv6 literal refused', host: '[::g]', want: undefined },
  { label: 'text after an IPv6 literal refused', host: '[::1]x', want: undefined },
  { label: 'non-ASCII refused', host: 'ex\u00e4mple.com', want: undefined },
];

describe('normalizeHost', () => {
  it.each(hostRows)('$label', ({ host, want }) => {
    expect(normalizeHost(host)).toBe(want);
  });
});
