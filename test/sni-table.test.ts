/** SNI matching and certificate names as tables: pure functions, no sockets. */
import { describe, expect, it } from 'vitest';
import { certificateNames, normalizeServerName } from '../src/downstream/certificate-names.js';
import { SniTable } from '../src/downstream/sni-table.js';

describe('SniTable.pick: exact, then a one-label wildcard, else the default', () => {
  const table = new SniTable(
    [
      { names: ['a.example.test'], value: 'a' },
      { names: ['*.wild.example.test'], value: 'wild' },
      { names: ['exact.wild.example.test', 'b.example.test'], value: 'exact-over-wild' },
      { names: ['a.example.test', '*.other.test'], value: 'second' },
    ],
    'default',
  );
  const rows: { label: string; serverName: string | undefined; want: string }[] = [
    { label: 'an exact name', serverName: 'a.example.test', want: 'a' },
    { label: 'upper case', serverName: 'A.Example.TEST', want: 'a' },
    { label: 'a trailing dot', serverName: 'a.example.test.', want: 'a' },
    { label: 'a wildcard over one label', serverName: 'x.wild.example.test', want: 'wild' },
    { label: 'a wildcard, upper case and a trailing dot', serverName: 'X.WILD.example.test.', want: 'wild' },
    { label: 'an exact name before the wildcard that also matches it', serverName: 'exact.wild.example.test', want: 'exact-over-wild' },
    { label: 'the wildcard does not match its own base', serverName: 'wild.example.test', want: 'default' },
    { label: 'the wildcard does not match two labels', serverName: 'a.b.wild.example.test', want: 'default' },
    { label: 'a name listed twice: the first certificate keeps it', serverName: 'a.example.test', want: 'a' },
    { label: 'the second certificate’s own wildcard', serverName: 'q.other.test', want: 'second' },
    { label: 'a name nobody has', serverName: 'nope.example.test', want: 'default' },
    { label: 'a suffix of a name is not the name', serverName: 'xa.example.test', want: 'default' },
    { label: 'no SNI', serverName: undefined, want: 'default' },
    { label: 'an empty SNI', serverName: '', want: 'default' },
    { label: 'a leading dot', serverName: '.wild.example.test', want: 'default' },
  ];
  for (const row of rows) {
    it(row.label, () => expect(table.pick(row.serverName)).toBe(row.want));
  }
});

describe('certificateNames: subjectAltName DNS entries, else the CN', () => {
  const rows: { label: string; san: string | undefined; subject: string; want: string[] }[] = [
    { label: 'one DNS name', san: 'DNS:a.example.test', subject: 'CN=ignored.example.test', want: ['a.example.test'] },
    {
      label: 'several, other kinds skipped',
      san: 'DNS:a.example.test, IP Address:127.0.0.1, DNS:*.wild.example.test, email:x@example.test',
      subject: 'CN=a',
      want: ['a.example.test', '*.wild.example.test'],
    },
    { label: 'normalised', san: 'DNS:A.Example.Test.', subject: '', want: ['a.example.test'] },
    { label: 'a JSON-quoted entry', san: 'DNS:"odd,name.test", DNS:b.test', subject: '', want: ['odd,name.test', 'b.test'] },
    {
      label: 'no DNS entry: the CN',
      san: 'IP Address:10.0.0.1',
      subject: 'O=Sluice\nCN=Legacy.Example.Test',
      want: ['legacy.example.test'],
    },
    { label: 'no subjectAltName: the CN', san: undefined, subject: 'CN=a.example.test', want: ['a.example.test'] },
    { label: 'neither', san: undefined, subject: 'O=Sluice', want: [] },
  ];
  for (const row of rows) {
    it(row.label, () => expect(certificateNames(row.san, row.subject)).toEqual(row.want));
  }

  it('normalizeServerName lowers case and drops one trailing dot', () => {
    expect(normalizeServerName('A.B.')).toBe('a.b');
    expect(normalizeServerName('a.b')).toBe('a.b');
  });
});
