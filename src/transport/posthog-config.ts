/**
 * PostHog's remote configuration and feature flags as Pulse answers them: Pulse serves capture only, so every remote
 * feature is off and there are no flags. posthog-js at its defaults asks for these before it turns its extensions on;
 * with a valid answer it autocaptures (clicks become `$autocapture`) and logs nothing, where a refusal would put
 * errors in the site's console. Pure: posthog.ts routes the requests here. The answers are the same for every key
 * (they say nothing about the project), so the key in the path is not checked.
 */

/** What `/array/<key>/config` holds for every key (posthog-js's `RemoteConfig`, PostHog's camelCase field names). */
export const REMOTE_CONFIG = {
  supportedCompression: ["gzip", "gzip-js"],
  // posthog-js then asks for no flags when it loads (an `identify` still may: /flags answers that).
  hasFeatureFlags: false,
  autocapture_opt_out: false,
  // Clicks carry `$elements_chain` (one string) without the `$elements` array, as PostHog's cloud sets it.
  elementsChainAsString: true,
  captureDeadClicks: false,
  capturePerformance: false,
  autocaptureExceptions: false,
  heatmaps: false,
  sessionRecording: false,
  // No `surveys` field on purpose: with `surveys: false` posthog-js still loads its surveys script (/static/surveys.js,
  // which Pulse does not serve) to set up a disabled survey manager; without the field it loads nothing.
  productTours: false,
  conversations: false,
  siteApps: [],
  isAuthenticated: false,
  toolbarParams: {},
  toolbarVersion: "toolbar",
} as const;

/**
 * The answer to `/flags` (v2, `flags`) and the older `/decide` (`featureFlags`, `config`): no flags, nothing failed,
 * and the same remote features off for SDKs that read them from there.
 */
export const NO_FLAGS = {
  flags: {},
  featureFlags: {},
  featureFlagPayloads: {},
  errorsWhileComputingFlags: false,
  config: { enable_collect_everything: true },
  ...REMOTE_CONFIG,
} as const;

/** One answer (always 200): its content type, caching and body. */
export interface ConfigAnswer {
  readonly contentType: string;
  readonly cacheControl: string;
  readonly body: string;
}

const FLAGS_PATH = /^\/(decide|flags)\/?$/;
const CONFIG_PATH = /^\/array\/([^/]+)\/config(\.js)?$/;

/** Whether `path` is one of the endpoints answered here. */
export function isPostHogConfigPath(path: string): boolean {
  return FLAGS_PATH.test(path) || CONFIG_PATH.test(path);
}

/**
 * The answer for `path`, or null when it is not one of these endpoints. `config.js` is the script posthog-js's
 * default bundle loads with a `<script>` tag: it puts the config where posthog-js looks for it,
 * `window._POSTHOG_REMOTE_CONFIG[key].config`. The config may be cached a few minutes; flags are per request.
 */
export function postHogConfigAnswer(path: string): ConfigAnswer | null {
  if (FLAGS_PATH.test(path)) return { contentType: "application/json", cacheControl: "no-store", body: JSON.stringify(NO_FLAGS) };
  const match = CONFIG_PATH.exec(path);
  if (!match) return null;
  const cacheControl = "public, max-age=300";
  if (!match[2]) return { contentType: "application/json", cacheControl, body: JSON.stringify(REMOTE_CONFIG) };
  let key = match[1]!;
  try {
    key = decodeURIComponent(key);
  } catch {
    // Kept as sent: the router refuses bad escapes first, and the key is only a property name here.
  }
  // JSON is a JavaScript expression; escaping "<" keeps the script inert even if someone inlines it in a page.
  const json = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");
  const body =
    `(function(){var c=window._POSTHOG_REMOTE_CONFIG=window._POSTHOG_REMOTE_CONFIG||{};` +
    `c[${json(key)}]={config:${json(REMOTE_CONFIG)},siteApps:[]};})();\n`;
  return { contentType: "text/javascript; charset=utf-8", cacheControl, body };
}
