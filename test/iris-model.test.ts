import { describe, expect, it } from 'vitest';
import { IRIS_CLASSES, predictIris } from '../src/predictor/iris-model.js';
import { ErrorRate } from '../src/predictor/error-rate.js';

// Rows from Fisher's iris data set (sepal length, sepal width, petal length, petal width; cm).
const rows: { label: string; features: [number, number, number, number]; want: (typeof IRIS_CLASSES)[number] }[] = [
  { label: 'sample 1', features: [5.1, 3.5, 1.4, 0.2], want: 'setosa' },
  { label: 'sample 11', features: [5.4, 3.7, 1.5, 0.2], want: 'setosa' },
  { label: 'sample 26', features: [5.0, 3.0, 1.6, 0.2], want: 'setosa' },
  { label: 'sample 45', features: [5.1, 3.8, 1.9, 0.4], want: 'setosa' },
  { label: 'sample 51', features: [7.0, 3.2, 4.7, 1.4], want: 'versicolor' },
  { label: 'sample 61', features: [5.0, 2.0, 3.5, 1.0], want: 'versicolor' },
  { label: 'sample 62', features: [5.9, 3.0, 4.2, 1.5], want: 'versicolor' },
  { label: 'sample 76', features: [6.6, 3.0, 4.4, 1.4], want: 'versicolor' },
  { label: 'sample 91', features: [5.5, 2.6, 4.4, 1.2], want: 'versicolor' },
  { label: 'sample 101', features: [6.3, 3.3, 6.0, 2.5], want: 'virginica' },
  { label: 'sample 121', features: [6.9, 3.2, 5.7, 2.3], want: 'virginica' },
  { label: 'sample 136', features: [7.7, 3.0, 6.1, 2.3], want: 'virginica' },
  { label: 'sample 146', features: [6.7, 3.0, 5.2, 2.3], want: 'virginica' },
  { label: 'sample 150', features: [5.9, 3.0, 5.1, 1.8], want: 'virginica' },
  { label: 'setosa mean', features: [5.006, 3.428, 1.462, 0.246], want: 'setosa' },
  { label: 'versicolor mean', features: [5.936, 2.77, 4.26, 1.326], want: 'versicolor' },
  { label: 'virginica mean', features: [6.588, 2.974, 5.552, 2.026], want: 'virginica' },
];

describe('predictIris', () => {
  it.each(rows)('$label → $want', ({ features, want }) => {
    const { classes, probabilities } = predictIris(features, 1);
    expect(IRIS_CLASSES[classes[0]!]).toBe(want);
    expect(probabilities).toHaveLength(3);
    expect(probabilities[0]! + probabilities[1]! + probabilities[2]!).toBeCloseTo(1, 12);
    expect(Math.max(...probabilities)).toBe(probabilities[classes[0]!]);
  });

  it('classifies a row-major batch row by row', () => {
    const batch = rows.flatMap((r) => r.features);
    const { classes, probabilities } = predictIris(batch, rows.length);
    expect(classes.map((c) => IRIS_CLASSES[c])).toEqual(rows.map((r) => r.want));
    expect(probabilities).toHaveLength(rows.length * 3);
  });

  it('stays finite far outside the data', () => {
    const { probabilities } = predictIris([1e6, -1e6, 1e6, 1e6], 1);
    expect(probabilities.every(Number.isFinite)).toBe(true);
  });
});

describe('ErrorRate', () => {
  const table: { label: string; rate: number; n: number; wantFailing: number[] }[] = [
    { label: 'zero never fails', rate: 0, n: 10, wantFailing: [] },
    { label: 'one always fails', rate: 1, n: 4, wantFailing: [1, 2, 3, 4] },
    { label: 'half fails every second', rate: 0.5, n: 8, wantFailing: [2, 4, 6, 8] },
    { label: 'a quarter fails every fourth', rate: 0.25, n: 12, wantFailing: [4, 8, 12] },
    { label: 'a third: floor(n/3) steps at 3, 6, 9', rate: 1 / 3, n: 9, wantFailing: [3, 6, 9] },
    { label: '0.1 fails exactly 10 of 100', rate: 0.1, n: 100, wantFailing: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100] },
  ];
  it.each(table)('$label', ({ rate, n, wantFailing }) => {
    const e = new ErrorRate(rate);
    const failing: number[] = [];
    for (let i = 1; i <= n; i++) if (e.next()) failing.push(i);
    expect(failing).toEqual(wantFailing);
  });

  it('0.29 fails exactly 29 of 100 (no float shortfall)', () => {
    const e = new ErrorRate(0.29);
    let failed = 0;
    for (let i = 0; i < 100; i++) if (e.next()) failed++;
    expect(failed).toBe(29);
  });
});
