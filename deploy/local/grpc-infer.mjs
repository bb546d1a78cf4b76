#!/usr/bin/env node
/**
 * One Open Inference Protocol ModelInfer call over gRPC (h2c) to the demo's iris model, through the
 * gateway that `npm start` runs: what a tritonclient or KServe SDK gRPC user sends, with the
 * predictor's own .proto files. Prints the predicted class, the revision that answered and, after a
 * cold start, how long the call was held.
 *
 *   node deploy/local/grpc-infer.mjs [HOST:PORT]      (default localhost:8080; run npm install first)
 */
import { performance } from 'node:perf_hooks';
import { credentials, loadPackageDefinition, Metadata } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { LOAD_OPTIONS, PROTO_FILES } from '../../dist/predictor/grpc-protos.js';

const target = process.argv[2] ?? 'localhost:8080';
const { inference } = loadPackageDefinition(loadSync(PROTO_FILES.inference, LOAD_OPTIONS));
const client = new inference.GRPCInferenceService(target, credentials.createInsecure());

const request = {
  model_name: 'iris',
  inputs: [{ name: 'input-0', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [6.7, 3.0, 5.2, 2.3] } }],
};
let headers = new Metadata();
const started = performance.now();
const call = client.ModelInfer(request, { deadline: Date.now() + 60_000 }, (err, response) => {
  const ms = Math.round(performance.now() - started);
  client.close();
  if (err) {
    console.error(`ModelInfer failed: ${err.code} ${err.details}`);
    process.exitCode = 1;
    return;
  }
  const classes = response.outputs.find((o) => o.name === 'predict') ?? response.outputs[0];
  const revision = headers.get('sluice-revision')[0] ?? '?';
  const coldStart = headers.get('sluice-cold-start')[0];
  const held = coldStart === undefined ? 'warm' : `cold start, held ${coldStart} ms`;
  console.log(`model ${response.model_name}: class ${JSON.stringify(classes?.contents.int64_contents)} in ${ms} ms (${revision}, ${held})`);
});
call.on('metadata', (m) => (headers = m));
