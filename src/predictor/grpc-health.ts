/**
 * `grpc.health.v1.Health` for the predictor: SERVING while it is ready (loaded, not shutting down),
 * NOT_SERVING otherwise, for the server as a whole (service "") and for the inference service.
 * Check answers an unknown service NOT_FOUND; Watch answers it SERVICE_UNKNOWN and stays open, as
 * the health protocol says, sending each status change until the client cancels or the server closes.
 */
import {
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { HEALTH_SERVICE_NAMES, type ServingStatus } from './grpc-protos.js';
import type { Readiness } from './readiness.js';

interface HealthCheckRequest {
  service: string;
}

export interface HealthService {
  implementation: UntypedServiceImplementation;
  /** Ends every open Watch (the server is closing; tryShutdown waits for open calls). */
  endWatches(): void;
}

export function healthService(readiness: Readiness): HealthService {
  const servingStatus = (ready: boolean): ServingStatus => (ready ? 'SERVING' : 'NOT_SERVING');
  const watches = new Set<ServerWritableStream<HealthCheckRequest, unknown>>();

  const check = (call: ServerUnaryCall<HealthCheckRequest, unknown>, callback: sendUnaryData<unknown>): void => {
    const service = call.request.service;
    if (!HEALTH_SERVICE_NAMES.has(service)) {
      callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(service)}` });
      return;
    }
    callback(null, { status: servingStatus(readiness.ready) });
  };

  const watch = (call: ServerWritableStream<HealthCheckRequest, unknown>): void => {
    // An unknown service gets SERVICE_UNKNOWN once; nothing will change for it, and the stream stays
    // open until the client goes.
    const known = HEALTH_SERVICE_NAMES.has(call.request.service);
    call.write({ status: known ? servingStatus(readiness.ready) : 'SERVICE_UNKNOWN' });
    const unsubscribe = known ? readiness.onChange((ready) => call.write({ status: servingStatus(ready) })) : undefined;
    watches.add(call);
    const done = (): void => {
      unsubscribe?.();
      watches.delete(call);
    };
    call.on('cancelled', done);
    call.on('finish', done);
  };

  return {
    implementation: { Check: check, Watch: watch },
    endWatches: () => {
      for (const call of watches) call.end();
    },
  };
}
