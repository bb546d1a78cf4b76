/** Sluice as a library: the pieces other programs embed or test against. */
export { Gateway, type GatewayOptions } from './gateway/gateway.js';
export { AutoscalerLoop, type LoopOptions } from './autoscaler/loop.js';
export { Decider, type DeciderInput, type DeciderResult, type DeciderSpec } from './autoscaler/kpa.js';
export { parseConfig, parseConfigText, readConfigFile, type Config, type Revision, type Service } from './config/load.js';
export { LocalDriver } from './scaler/local.js';
export { StaticDriver } from './scaler/static.js';
export type { ScalerDriver } from './scaler/driver.js';
export type { ReplicaCounts, RevisionKey } from './core/revision.js';
export type { Endpoint } from './core/endpoint.js';
export { SluiceError, ConfigError, type ErrorCode } from './errors.js';
