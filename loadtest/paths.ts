/** Where the benchmark scripts find the build and write their figures; they run as dist/loadtest/*.js. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI from the build. */
export const CLI = join(ROOT, 'dist', 'cli.js');
/** loadtest/results/ (git-ignored). */
export const RESULTS = join(ROOT, 'loadtest', 'results');
/** The h2c rows' node:http2-only responder (h2-responder.ts), from the build. */
export const RESPONDER = join(ROOT, 'dist', 'loadtest', 'h2-responder.js');

/** A module of the build (`load-test/engine.js`), loaded at run time: `T` states the part of it the script uses. */
export const fromDist = <T>(path: string): Promise<T> => import(new URL(`../../dist/${path}`, import.meta.url).href) as Promise<T>;
