/** The demo predictor (`sluice predictor`) as a child process on a port the OS picks (and, with `grpc`, a gRPC port too). */
import { Child } from './processes.js';

const LISTENING = /^predictor \S+ listening on (http:\/\/\S+)$/;
const GRPC = /^predictor \S+ serving gRPC on (\S+)$/;

export interface RunningPredictor {
  child: Child;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT` of its gRPC server, when started with `grpc`. */
  grpcAddress?: string;
}

export async function startPredictor(cliPath: string, model: string, options: { grpc?: boolean } = {}): Promise<RunningPredictor> {
  const child = new Child({
    name: options.grpc ? 'grpc predictor' : 'predictor',
    command: process.execPath,
    args: [cliPath, 'predictor', '--model', model, '--port', '0', ...(options.grpc ? ['--grpc-port', '0'] : [])],
  });
  if (!options.grpc) return { child, url: await child.waitForLine((line) => LISTENING.exec(line)?.[1], 15_000) };
  // One wait for both lines: they often arrive in one read, and a second wait would start after both.
  let url: string | undefined;
  let grpcAddress: string | undefined;
  await child.waitForLine((line) => {
    url ??= LISTENING.exec(line)?.[1];
    grpcAddress ??= GRPC.exec(line)?.[1];
    return url !== undefined && grpcAddress !== undefined ? true : undefined;
  }, 15_000);
  return { child, url: url!, grpcAddress };
}
