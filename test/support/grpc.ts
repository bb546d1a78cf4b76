/**
 * gRPC for the tests: the Open Inference Protocol service (test/fixtures/grpc_predict_v2.proto)
 * loaded with @grpc/proto-loader, grpc-js clients of it, and grpc-js servers of it in this process
 * (behind static revisions) whose handlers each test writes.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO = fileURLToPath(new URL('../fixtures/grpc_predict_v2.proto', import.meta.url));

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

const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const inference = grpc.loadPackageDefinition(definition).inference as unknown as { GRPCInferenceService: ServiceConstructor };
export const InferenceService = inference.GRPCInferenceService;

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

export { grpc };
