/**
 * gRPC for the tests: the Open Inference Protocol service and the health service, loaded from the
 * predictor's own .proto files (src/predictor/proto/) with @grpc/proto-loader and the predictor's
 * options; grpc-js clients of them, grpc-js servers of the inference service in this process (behind
 * static revisions) whose handlers each test writes, and helpers for the iris model's requests.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LOAD_OPTIONS, PROTO_FILES } from '../../src/predictor/grpc-protos.js';

export interface InferRequest {
  model_name?: string;
  model_version?: string;
  id?: string;
  raw_input_contents?: Buffer[];
}

export interface InferResponse {
  model_name: string;
  model_version: string;
  id: string;
  raw_output_contents: Buffer[];
}

export interface StreamResponse {
  error_message: string;
  infer_response: InferResponse | null;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: Res) => void,
) => grpc.ClientUnaryCall;

/** The generated client's methods the tests call. */
export interface InferenceClient extends grpc.Client {
  ModelInfer: Unary<InferRequest, InferResponse>;
  ModelReady: Unary<{ name?: string }, { ready: boolean }>;
  ServerLive: Unary<object, { live: boolean }>;
  ModelStreamInfer(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<InferRequest, StreamResponse>;
}

interface ServiceConstructor {
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions): InferenceClient;
  service: grpc.ServiceDefinition;
}

const loaded = grpc.loadPackageDefinition(protoLoader.loadSync([PROTO_FILES.inference, PROTO_FILES.health], LOAD_OPTIONS));
const inference = loaded.inference as unknown as { GRPCInferenceService: ServiceConstructor };
export const InferenceService = inference.GRPCInferenceService;
const health = ((loaded.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as unknown as {
  Health: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client;
};

/** A client of `url` (`http://127.0.0.1:PORT`), in cleartext; `authority` sets :authority. */
export function inferenceClient(url: string, authority?: string): InferenceClient {
  const options: grpc.ChannelOptions = authority === undefined ? {} : { 'grpc.default_authority': authority };
  return new InferenceService(new URL(url).host, grpc.credentials.createInsecure(), options);
}

/** A unary call's outcome: the response or the error, the response headers and the trailers. */
export interface CallResult<Res> {
  response: Res | undefined;
  error: grpc.ServiceError | undefined;
  headers: grpc.Metadata | undefined;
  status: grpc.StatusObject;
}

/** Call a unary method and wait for its status. */
export function call<Req, Res>(
  method: Unary<Req, Res>,
  client: InferenceClient,
  request: Req,
  options: grpc.CallOptions = {},
  metadata = new grpc.Metadata(),
): Promise<CallResult<Res>> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let outcome: { response: Res | undefined; error: grpc.ServiceError | undefined } | undefined;
    let status: grpc.StatusObject | undefined;
    const settle = () => {
      if (outcome !== undefined && status !== undefined) resolve({ ...outcome, headers, status });
    };
    const c = method.call(client, request, metadata, options, (error, response) => {
      outcome = { response, error: error ?? undefined };
      settle();
    });
    c.on('metadata', (m: grpc.Metadata) => (headers = m));
    c.on('status', (s: grpc.StatusObject) => {
      status = s;
      settle();
    });
  });
}

/** A grpc-js server of the inference service on 127.0.0.1:0; resolves with it and its `http://` URL. */
export async function startInferenceServer(
  handlers: Partial<Record<'ModelInfer' | 'ModelReady' | 'ServerLive' | 'ModelStreamInfer', grpc.UntypedHandleCall>>,
): Promise<{ server: grpc.Server; url: string; port: number }> {
  const server = new grpc.Server();
  server.addService(InferenceService.service, handlers as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, url: `http://127.0.0.1:${port}`, port };
}

/** A client of grpc.health.v1.Health at `url` (`http://127.0.0.1:PORT`), in cleartext. */
export function healthClient(url: string): grpc.Client {
  return new health.Health(new URL(url).host, grpc.credentials.createInsecure());
}

type UnaryMethod = (req: unknown, options: { deadline: number }, callback: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** One unary call, by default with a 10 s deadline. */
export function unary<Res = Record<string, unknown>>(
  client: grpc.Client,
  method: string,
  request: unknown,
  deadlineMs = 10_000,
): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) =>
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res as Res))),
  );
}

/** The grpc.ServiceError a call failed with (fails the test when it succeeded). */
export async function grpcError(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as grpc.ServiceError;
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

export { grpc };
