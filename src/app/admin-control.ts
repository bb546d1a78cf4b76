/**
 * The admin API's write routes, bound to the traffic and rollout controllers: what
 * `PUT /api/v1/services/:name/traffic` and `POST|DELETE /api/v1/services/:name/rollout` call.
 */
import type { AdminControl } from '../admin/app.js';
import { ConfigError } from '../errors.js';
import { quote } from '../quote.js';
import type { RolloutController } from '../rollout/rollout-controller.js';
import type { TrafficController } from '../rollout/traffic-controller.js';

/**
 * @example createAdminApp({ status: gateway, registry, control: adminControl(traffic, rollouts) })
 */
export function adminControl(traffic: TrafficController, rollouts: RolloutController): AdminControl {
  return {
    setTraffic: (service, body) => {
      // Either a bare list of targets or { traffic: [...], keepWarmSeconds }.
      if (typeof body !== 'object' || body === null) {
        return Promise.reject(new ConfigError([`(root): want a list of traffic targets or an object with "traffic", got ${quote(body)}`]));
      }
      const b = body as { traffic?: unknown; keepWarmSeconds?: unknown };
      const list = Array.isArray(body) ? body : b.traffic;
      let keepWarmMs: number | undefined;
      if (!Array.isArray(body) && b.keepWarmSeconds !== undefined) {
        // 1e400 is valid JSON and parses to Infinity: not a number of seconds.
        if (typeof b.keepWarmSeconds !== 'number' || !Number.isFinite(b.keepWarmSeconds) || b.keepWarmSeconds < 0) {
          return Promise.reject(new ConfigError([`keepWarmSeconds: want a number of seconds ≥ 0, got ${quote(b.keepWarmSeconds)}`]));
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
