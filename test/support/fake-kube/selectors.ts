/**
 * Label selectors (`app=iris,tier!=canary,env in (prod,stage),!legacy`) and field selectors
 * (`metadata.name=iris`), parsed once per request and matched per object.
 */
import { badRequest } from './status.js';

type Operator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!exists';

interface Requirement {
  key: string;
  op: Operator;
  values: string[];
}

export type Selector = (labels: Record<string, string> | undefined) => boolean;

/** Split on commas outside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

function parseTerm(term: string): Requirement {
  const set = /^([^\s!=(),]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (set) return { key: set[1]!, op: set[2] as Operator, values: set[3]!.split(',').map((v) => v.trim()) };
  const cmp = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
  if (cmp) return { key: cmp[1]!, op: cmp[2] === '!=' ? '!=' : '=', values: [cmp[3]!] };
  const not = /^!\s*([^\s!=(),]+)$/.exec(term);
  if (not) return { key: not[1]!, op: '!exists', values: [] };
  if (/^[^\s!=(),]+$/.test(term)) return { key: term, op: 'exists', values: [] };
  throw badRequest(`unable to parse requirement: ${JSON.stringify(term)}`);
}

function matches(req: Requirement, value: string | undefined): boolean {
  switch (req.op) {
    case '=':
      return value === req.values[0];
    case '!=':
      return value !== req.values[0];
    case 'in':
      return value !== undefined && req.values.includes(value);
    case 'notin':
      return value === undefined || !req.values.includes(value);
    case 'exists':
      return value !== undefined;
    case '!exists':
      return value === undefined;
  }
}

/** A label selector; an absent or empty one matches everything. Throws a 400 KubeError when malformed. */
export function parseLabelSelector(text: string | null | undefined): Selector {
  if (text === null || text === undefined || text.trim() === '') return () => true;
  const reqs = splitTerms(text).map(parseTerm);
  return (labels) => reqs.every((r) => matches(r, labels?.[r.key]));
}

export type FieldSelector = (object: unknown) => boolean;

/** A field selector over dotted paths (`metadata.name=x,metadata.namespace!=y`); only `=`, `==` and `!=`. */
export function parseFieldSelector(text: string | null | undefined): FieldSelector {
  if (text === null || text === undefined || text.trim() === '') return () => true;
  const reqs = splitTerms(text).map((term) => {
    const req = parseTerm(term);
    if (req.op !== '=' && req.op !== '!=') throw badRequest(`invalid field selector: ${JSON.stringify(term)}`);
    return req;
  });
  return (object) =>
    reqs.every((r) => {
      let value: unknown = object;
      for (const part of r.key.split('.'))
        value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
      // eslint-disable-next-line @typescript-eslint/no-base-to-string -- the fields selected on are scalars (metadata.name, status.phase …), never objects
      return matches(r, value === undefined ? undefined : String(value));
    });
}

/** `matchLabels` of a LabelSelector as selector text (`app=iris,version=1`), as a Scale's status.selector. */
export function selectorText(selector: unknown): string {
  const labels = (selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels ?? {};
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}
