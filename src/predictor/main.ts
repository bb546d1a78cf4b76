/**
 * `sluice predictor [options]`: start the demo KServe V2 predictor and return; the listening server
 * keeps the process alive. SIGTERM or SIGINT drains (no new connections, in-flight requests finish,
 * at most 10 s) and exits 0; a second signal exits at once.
 */
import { formatHostPort } from '../net-address.js';
import { OptionError, USAGE, parsePredictorArgs } from './options.js';
import { startPredictor, urlHost } from './server.js';

export { startPredictor, type Predictor } from './server.js';

export async function main(argv: string[]): Promise<number | void> {
  let options;
  try {
    const parsed = parsePredictorArgs(argv, process.env);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    options = parsed;
  } catch (err) {
    if (!(err instanceof OptionError)) throw err;
    process.stderr.write(`sluice predictor: ${err.message}\nRun 'sluice predictor --help' for the options.\n`);
    return 2;
  }

  let predictor;
  try {
    predictor = await startPredictor(options);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    process.stderr.write(`sluice predictor: cannot listen on ${urlHost(options.host)}:${options.port}: ${reason}\n`);
    return 1;
  }
  process.stdout.write(`predictor ${options.model} listening on ${predictor.url}\n`);
  if (predictor.grpcPort !== undefined) {
    process.stdout.write(`predictor ${options.model} serving gRPC on ${formatHostPort(options.host, predictor.grpcPort)}\n`);
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`sluice predictor: ${signal} again, exiting without waiting\n`);
      process.exit(1);
    }
    stopping = true;
    predictor.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`sluice predictor: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
