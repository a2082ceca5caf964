/**
 * Pulse's tracker, served at /pulse.js (scripts/build-tracker.ts bundles it; at most 2 KB gzipped). A site adds
 *
 *   <script defer src="https://pulse.example.com/pulse.js" data-key="<capture key>"></script>
 *
 * and every page sends PostHog-format events to Pulse's PostHog-compatible capture endpoint (`POST /e/`), so they go
 * through the same ingest and enrichment as any posthog-js capture:
 * - `$pageview` on load, on a single-page app's navigation (History API, `popstate`) when the path changes, and when
 *   the page comes back from the back/forward cache;
 * - `$pageleave` once per pageview, when the page is hidden or unloaded;
 * - `window.pulse.capture(event, properties)` and `window.pulse.identify(distinctId, $set)`.
 *
 * Attributes: `data-key` (a capture key; optional on a server without keys), `data-api` (Pulse's origin, default:
 * the origin this script came from), `data-environment` (`$environment`), `data-respect-dnt` (send nothing when the
 * browser says Do Not Track), `data-persist="memory"` (store nothing in the browser: a new anonymous id each page
 * load). No cookies, ever. By default an anonymous id is kept in localStorage (`pulse_id`) and the session in
 * sessionStorage (`pulse_session`: its id and times, a new one after 30 minutes idle or 24 hours).
 */

/** What `window.pulse` offers a page. */
export interface Pulse {
  /** Sends `event` with the page's properties and `properties` (which win over them). */
  capture(event: string, properties?: Record<string, unknown>): void;
  /**
   * From now on, events carry `distinctId` (kept like the anonymous id). Sends `$identify` with `$anon_distinct_id`
   * (the id before) and `$set` (person properties), as posthog-js does; nothing when the id is already this one.
   */
  identify(distinctId: string, set?: Record<string, unknown>): void;
}

/** The page's window once the tracker has run. */
export type PulseWindow = typeof window & { pulse: Pulse };

/** package.json's version, set by the build. */
declare const PULSE_VERSION: string;

const SESSION_IDLE_MS = 30 * 60_000;
const SESSION_MAX_MS = 24 * 60 * 60_000;
const ID_KEY = "pulse_id";
const SESSION_KEY = "pulse_session";

const script = document.currentScript;
const option = (name: string): string | null => script?.getAttribute(`data-${name}`) ?? null;
const apiKey = option("key") ?? undefined;
const environment = option("environment") ?? undefined;
const origin = option("api") || new URL((script as HTMLScriptElement | null)?.src || location.href).origin;
const endpoint = `${origin.replace(/\/+$/, "")}/e/?beacon=1`;
const doNotTrack = option("respect-dnt") !== null && navigator.doNotTrack === "1";

// With data-persist="memory" (or storage the browser refuses) the ids live in this object, for this page load only.
const memory: Record<string, string> = {};
const persist = option("persist") !== "memory";
const storage = (kind: "localStorage" | "sessionStorage") => ({
  get(key: string): string | undefined {
    try {
      if (persist) return window[kind].getItem(key) ?? undefined;
    } catch {
      // Storage disabled (a sandboxed frame, a privacy setting): memory only.
    }
    return memory[key];
  },
  set(key: string, value: string): string {
    memory[key] = value;
    try {
      if (persist) window[kind].setItem(key, value);
    } catch {
      // As above: the value is in memory.
    }
    return value;
  },
});
const local = storage("localStorage");
const session = storage("sessionStorage");

/** A UUIDv7 (time-ordered, as posthog-js makes its ids), from getRandomValues: randomUUID needs a secure context. */
function uuid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 5, time = Date.now(); i >= 0; i--, time = Math.floor(time / 256)) bytes[i] = time % 256;
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => (byte + 256).toString(16).slice(1)).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let distinctId = local.get(ID_KEY) ?? local.set(ID_KEY, uuid());

/** The session's id, rotated after 30 minutes without an event or 24 hours in all (posthog-js's limits). */
function sessionId(now: number): string {
  const [id, started, last] = (session.get(SESSION_KEY) ?? "").split(" ");
  const current = id && now - Number(last) < SESSION_IDLE_MS && now - Number(started) < SESSION_MAX_MS;
  const kept = current ? [id, started] : [uuid(), now];
  session.set(SESSION_KEY, `${kept.join(" ")} ${now}`);
  return String(kept[0]);
}

function send(event: string, properties?: Record<string, unknown>): void {
  const body = JSON.stringify({
    api_key: apiKey,
    event,
    distinct_id: distinctId,
    properties: {
      $current_url: location.href,
      $host: location.host,
      $pathname: location.pathname,
      $referrer: document.referrer || "$direct",
      $screen_width: screen.width,
      $screen_height: screen.height,
      $viewport_width: innerWidth,
      $viewport_height: innerHeight,
      $browser_language: navigator.language,
      $lib: "pulse.js",
      $lib_version: PULSE_VERSION,
      $session_id: sessionId(Date.now()),
      $environment: environment,
      ...properties,
    },
  });
  // A text/plain body (a CORS "simple" request: no preflight from another origin); a beacon also outlives the page.
  if (!navigator.sendBeacon?.(endpoint, body)) void fetch(endpoint, { method: "POST", body, keepalive: true }).catch(() => {});
}

let pagePath: string | undefined;
let left = false;

function pageview(): void {
  if (location.pathname === pagePath) return;
  pagePath = location.pathname;
  left = false;
  send("$pageview");
}

function pageleave(): void {
  if (left || pagePath === undefined) return;
  left = true;
  send("$pageleave");
}

(window as PulseWindow).pulse = doNotTrack
  ? { capture() {}, identify() {} }
  : {
      capture: (event, properties) => send(String(event), properties),
      identify(id, set) {
        const anonymous = distinctId;
        id = String(id);
        if (!id || id === anonymous) return;
        distinctId = local.set(ID_KEY, id);
        send("$identify", { $anon_distinct_id: anonymous, $set: set });
      },
    };

if (!doNotTrack) {
  for (const method of ["pushState", "replaceState"] as const) {
    const original = history[method].bind(history);
    history[method] = (...args) => {
      original(...args);
      pageview();
    };
  }
  addEventListener("popstate", pageview);
  addEventListener("pagehide", pageleave);
  addEventListener("visibilitychange", () => document.visibilityState === "hidden" && pageleave());
  // Back from the back/forward cache: the page was left (and its $pageleave sent), so this is a new view.
  addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    pagePath = undefined;
    pageview();
  });
  pageview();
}
