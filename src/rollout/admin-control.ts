/**
 * The admin API's write routes, bound to the traffic and rollout controllers: what
 * `PUT /api/v1/services/:name/traffic` and `POST|DELETE /api/v1/services/:name/rollout` call.
 */
import type { AdminControl } from '../admin/app.js';
import { ConfigError } from '../errors.js';
import type { RolloutController } from './rollout-controller.js';
import type { TrafficController } from './traffic-controller.js';

/**
 * @example createAdminApp({ status: gateway, registry, control: adminControl(traffic, rollouts) })
 */
export function adminControl(traffic: TrafficController, rollouts: RolloutController): AdminControl {
  return {
    setTraffic: (service, body) => {
      // Either a bare list of targets or { traffic: [...], keepWarmSeconds }.
      const b = body as { traffic?: unknown; keepWarmSeconds?: unknown } | null;
      const list = Array.isArray(body) ? body : b?.traffic;
      let keepWarmMs: number | undefined;
      if (!Array.isArray(body) && b?.keepWarmSeconds !== undefined) {
        if (typeof b.keepWarmSeconds !== 'number' || !(b.keepWarmSeconds >= 0)) {
          return Promise.reject(new ConfigError([`keepWarmSeconds: want a number of seconds ≥ 0, got ${JSON.stringify(b.keepWarmSeconds)}`]));
        }
        keepWarmMs = b.keepWarmSeconds * 1000;
      }
      return traffic.setTraffic(service, list, { keepWarmMs, reason: 'api' });
    },
    startRollout: (service, body) => rollouts.start(service, body),
    stopRollout: (service) => rollouts.stop(service),
    rollout: (service) => rollouts.state(service),
  };
}
