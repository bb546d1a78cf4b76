/** The demo predictor (`sluice predictor`) as a child process on a port the OS picks. */
import { Child } from './processes.js';

const LISTENING = /^predictor \S+ listening on (http:\/\/\S+)$/;

export interface RunningPredictor {
  child: Child;
  /** `http://127.0.0.1:PORT`. */
  url: string;
}

export async function startPredictor(cliPath: string, model: string): Promise<RunningPredictor> {
  const child = new Child({
    name: 'predictor',
    command: process.execPath,
    args: [cliPath, 'predictor', '--model', model, '--port', '0'],
  });
  const url = await child.waitForLine((line) => LISTENING.exec(line)?.[1], 15_000);
  return { child, url };
}
