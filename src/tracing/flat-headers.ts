/**
 * OpenTelemetry's propagation getter and setter over the data port's flat header arrays
 * ([name, value, name, value, …]), so reading the client's traceparent and writing the endpoint's
 * builds no header object. Cost: one pass over the headers per field the propagator asks for
 * (two: traceparent and tracestate).
 */
import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';

/** The first value of `key` (lowercase); a request with two traceparents keeps the first, as a header object would. */
export const flatGetter: TextMapGetter<readonly string[]> = {
  keys(carrier) {
    const names: string[] = [];
    for (let i = 0; i < carrier.length; i += 2) names.push(carrier[i]!.toLowerCase());
    return names;
  },
  get(carrier, key) {
    for (let i = 0; i < carrier.length; i += 2) {
      const name = carrier[i]!;
      if (name.length === key.length && name.toLowerCase() === key) return carrier[i + 1];
    }
    return undefined;
  },
};

/** Removes every field named `key` (lowercase). */
export function deleteField(carrier: string[], key: string): void {
  for (let i = carrier.length - 2; i >= 0; i -= 2) {
    const name = carrier[i]!;
    if (name.length === key.length && name.toLowerCase() === key) carrier.splice(i, 2);
  }
}

/** Sets `key` to `value`: the first field of that name takes the value, any other is removed; appended when absent. */
export const flatSetter: TextMapSetter<string[]> = {
  set(carrier, key, value) {
    let found = false;
    for (let i = 0; i < carrier.length; i += 2) {
      const name = carrier[i]!;
      if (name.length !== key.length || name.toLowerCase() !== key) continue;
      if (found) {
        carrier.splice(i, 2);
        i -= 2;
      } else {
        carrier[i + 1] = value;
        found = true;
      }
    }
    if (!found) carrier.push(key, value);
  },
};
