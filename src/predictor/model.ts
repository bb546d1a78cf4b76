/**
 * The model the predictor serves, as the V2 metadata endpoints describe it. The name is the one
 * given with `--model` (so one binary can stand in for several differently named models behind the
 * gateway's model-name routing); what answers is always the iris classifier.
 */
import { IRIS_CLASSES, IRIS_FEATURES } from './iris-model.js';
import type { TensorMetadata } from './v2.js';

/** The only version the predictor serves; `/versions/{v}` paths must name it. */
export const MODEL_VERSION = '1';

const INPUT_NAME = 'input-0';
export const OUTPUT_PREDICT = 'predict';
export const OUTPUT_PROBABILITIES = 'probabilities';

const INPUTS: readonly TensorMetadata[] = [{ name: INPUT_NAME, datatype: 'FP32', shape: [-1, IRIS_FEATURES] }];
export const OUTPUTS: readonly TensorMetadata[] = [
  { name: OUTPUT_PREDICT, datatype: 'INT64', shape: [-1] },
  { name: OUTPUT_PROBABILITIES, datatype: 'FP32', shape: [-1, IRIS_CLASSES.length] },
];

/** `GET /v2/models/{m}` body. */
export function modelMetadata(name: string): object {
  return {
    name,
    versions: [MODEL_VERSION],
    platform: 'sluice_iris_logreg',
    inputs: INPUTS,
    outputs: OUTPUTS,
  };
}

/** Model names must be usable as one URL path segment. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
