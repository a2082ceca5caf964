/**
 * Keys and limits: what Pulse accepts from the open internet (`PulseConfig.trust`). Each field is a row of the
 * settings table (`SETTINGS` in src/config.ts, under `trust`), which holds its variable, default, bounds and meaning;
 * the compiler refuses a field without a row.
 */
export interface TrustConfig {
  readonly captureKeys: readonly string[];
  readonly readKeys: readonly string[];
  readonly maxBodyBytes: number;
  readonly maxWsPayloadBytes: number;
  readonly maxEventBytes: number;
  readonly maxPropertyKeyLength: number;
  readonly maxPropertyDepth: number;
  readonly maxPropertyCount: number;
  readonly maxEventAgeSeconds: number;
  readonly maxQueryDepth: number;
  readonly maxQueryAliases: number;
  readonly maxQueryTokens: number;
  readonly maxQueryDirectives: number;
  readonly maxFilterConditions: number;
  readonly maxFilterValueLength: number;
  readonly maxRegexInputLength: number;
  readonly hideFieldSuggestions: boolean;
  readonly maxSubscriptionsPerConnection: number;
  readonly maxConnectionsPerAddress: number;
  readonly sseReservationTtlMs: number;
  readonly maxUrlLength: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpRequestTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
  readonly httpIdleTimeoutMs: number;
  readonly connectionInitTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly captureRatePerSecond: number;
  readonly captureBurst: number;
  readonly slowConsumerBytes: number;
  readonly slowConsumerMs: number;
  readonly maxEnvironments: number;
  readonly maxTrackedNames: number;
  readonly maxBreakdownValues: number;
  readonly maxBreakdownEnvironments: number;
  readonly maxPersonProperties: number;
  readonly maxPersonBytes: number;
}

export type TrustConfigInput = Partial<TrustConfig>;

export const MiB = 1024 * 1024;

/** `key` or `key:environment`; keys are at least 16 characters of [A-Za-z0-9._~+/=-]. Null when well-formed. */
export function keyEntryProblem(entry: string): string | null {
  const colon = entry.indexOf(":");
  const key = colon === -1 ? entry : entry.slice(0, colon);
  const environment = colon === -1 ? null : entry.slice(colon + 1);
  if (!/^[A-Za-z0-9._~+/=-]{16,512}$/.test(key)) return "must be a key of 16 to 512 characters from A-Z a-z 0-9 . _ ~ + / = -";
  if (environment !== null && !/^[^\s,:]{1,100}$/.test(environment)) return "has an empty or invalid environment after ':'";
  return null;
}
