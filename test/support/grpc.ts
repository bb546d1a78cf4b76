/**
 * gRPC clients for the tests: grpc-js over the predictor's own .proto files (the ones the server
 * loads), for the Open Inference Protocol service and the health service, and a promise around a
 * unary call that resolves with the answer or rejects with the ServiceError (its `code` a gRPC status).
 */
import { credentials, loadPackageDefinition, type Client, type ChannelOptions, type ServiceError, type GrpcObject } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { LOAD_OPTIONS, PROTO_FILES } from '../../src/predictor/grpc-protos.js';

const loaded = loadPackageDefinition(loadSync([PROTO_FILES.inference, PROTO_FILES.health], LOAD_OPTIONS));
const inference = loaded.inference as GrpcObject;
const health = ((loaded.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject;

type Constructor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options?: ChannelOptions) => Client;

/** A client of inference.GRPCInferenceService at `address` (`127.0.0.1:PORT`), cleartext. */
export function inferenceClient(address: string, options: ChannelOptions = {}): Client {
  return new (inference.GRPCInferenceService as Constructor)(address, credentials.createInsecure(), options);
}

/** A client of grpc.health.v1.Health at `address`, cleartext. */
export function healthClient(address: string): Client {
  return new (health.Health as Constructor)(address, credentials.createInsecure());
}

type UnaryMethod = (req: unknown, options: { deadline: number }, callback: (err: ServiceError | null, res: unknown) => void) => void;

/** One unary call, by default with a 10 s deadline. */
export function unary<Res = Record<string, unknown>>(client: Client, method: string, request: unknown, deadlineMs = 10_000): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) =>
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res as Res))),
  );
}

/** The ServiceError a call failed with (fails the test when it succeeded). */
export async function grpcError(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('the call succeeded, want an error');
}

/** `features` (rows of 4) as the raw little-endian FP32 bytes of raw_input_contents. */
export function rawFp32(rows: number[][]): Buffer {
  const flat = rows.flat();
  const buf = Buffer.alloc(flat.length * 4);
  flat.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf;
}

/** A ModelInferRequest for the iris model with `rows` as typed FP32 contents. */
export function irisInferRequest(rows: number[][], model = 'iris'): Record<string, unknown> {
  return {
    model_name: model,
    inputs: [{ name: 'input-0', datatype: 'FP32', shape: [rows.length, 4], contents: { fp32_contents: rows.flat() } }],
  };
}
