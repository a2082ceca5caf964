import Bowser from "bowser";
import { LRUCache } from "lru-cache";

/** What a User-Agent says, under PostHog's property names and in posthog-js's value style. */
export interface UserAgentProperties {
  readonly $browser?: string;
  /** Major and minor as a number (`120`, `17.4`), as posthog-js sends it. */
  readonly $browser_version?: number;
  readonly $os?: string;
  readonly $device_type?: "Desktop" | "Mobile" | "Tablet";
}

/**
 * User-Agent strings remembered with what they say. Real traffic has a few hundred distinct ones; a flood of made-up
 * ones evicts the least recently used, so memory stays within this many entries (each at most
 * MAX_USER_AGENT_LENGTH characters plus a few short strings: about 5 MB at the worst).
 */
export const USER_AGENT_CACHE_SIZE = 5000;

/**
 * Only this many characters of a User-Agent are read (posthog-js truncates `$raw_user_agent` to 1000): the parser's
 * cost and the cache's memory per entry stay bounded whatever a client sends.
 */
export const MAX_USER_AGENT_LENGTH = 512;

const NOTHING: UserAgentProperties = Object.freeze({});

/**
 * Bowser's names where posthog-js (`detectBrowser`, `detectOS`) names the same thing differently, so events from
 * posthog-js and events Pulse enriches fall into the same rows of a breakdown.
 */
const BROWSER_NAMES: Readonly<Record<string, string>> = {
  "Samsung Internet for Android": "Samsung Internet",
  "Yandex Browser": "Yandex",
  "NAVER Whale Browser": "Whale",
  "Android Browser": "Android Mobile",
};
/**
 * The browsers bowser knows by name. Past them it falls back to the string's first product token ("Mozilla",
 * "MyApp/3.1 CFNetwork"), a guess Pulse does not store.
 */
const KNOWN_BROWSERS: ReadonlySet<string> = new Set(Object.values(Bowser.BROWSER_MAP).filter((name) => name !== "Generic"));
const OS_NAMES: Readonly<Record<string, string>> = { macOS: "Mac OS X" };
const DEVICE_TYPES: Readonly<Record<string, UserAgentProperties["$device_type"]>> = {
  desktop: "Desktop",
  mobile: "Mobile",
  tablet: "Tablet",
};

/**
 * Browser, OS and device type from a User-Agent, parsed by bowser and cached by the string (USER_AGENT_CACHE_SIZE
 * entries, least recently used evicted). Bots (bowser's `bot` platform: Googlebot, crawlers) and strings that name no
 * browser bowser knows (posthog-node, curl, undici, an app's own token, an empty header) give nothing rather than a
 * guess; each property is set only when the string says it.
 */
export class UserAgents {
  private readonly cache = new LRUCache<string, UserAgentProperties>({ max: USER_AGENT_CACHE_SIZE });

  describe(userAgent: string): UserAgentProperties {
    const key = userAgent.length > MAX_USER_AGENT_LENGTH ? userAgent.slice(0, MAX_USER_AGENT_LENGTH) : userAgent;
    let described = this.cache.get(key);
    if (described === undefined) {
      described = parse(key);
      this.cache.set(key, described);
    }
    return described;
  }

  /** Entries in the cache (at most USER_AGENT_CACHE_SIZE). */
  get cached(): number {
    return this.cache.size;
  }
}

function parse(userAgent: string): UserAgentProperties {
  if (userAgent.trim() === "") return NOTHING;
  let parsed: Bowser.Parser.ParsedResult;
  try {
    parsed = Bowser.parse(userAgent);
  } catch {
    return NOTHING;
  }
  const name = parsed.browser.name ?? "";
  if (parsed.platform.type === "bot" || !KNOWN_BROWSERS.has(name)) return NOTHING;
  const result: { -readonly [K in keyof UserAgentProperties]: UserAgentProperties[K] } = {};
  result.$browser = browserName(name, parsed.os.name, userAgent);
  const version = /^\d+(\.\d+)?/.exec(parsed.browser.version ?? "");
  if (version) result.$browser_version = Number(version[0]);
  if (parsed.os.name) result.$os = OS_NAMES[parsed.os.name] ?? parsed.os.name;
  const deviceType = DEVICE_TYPES[parsed.platform.type ?? ""];
  if (deviceType) result.$device_type = deviceType;
  return Object.freeze(result);
}

/** posthog-js's name: Safari on a phone or tablet is "Mobile Safari"; Chrome and Firefox on iOS are "... iOS". */
function browserName(name: string, os: string | undefined, userAgent: string): string {
  if (name === "Safari" && userAgent.includes("Mobile")) return "Mobile Safari";
  if (os === "iOS" && (name === "Chrome" || name === "Firefox")) return `${name} iOS`;
  return BROWSER_NAMES[name] ?? name;
}
