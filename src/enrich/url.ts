import { LRUCache } from "lru-cache";
import type { JsonObject } from "../domain/event.ts";

/** PostHog's `$referring_domain` (and posthog-js's `$referrer`) for a visit without a referrer. */
export const DIRECT_REFERRER = "$direct";

/** `$source` of a visit without an external referrer. */
export const DIRECT_SOURCE = "Direct";

/**
 * A value derived from a URL longer than this is not set: a derived property never costs more than this, whatever
 * the URL (a `$pathname` of 60 KB would double an event already at PULSE_MAX_EVENT_BYTES).
 */
export const MAX_DERIVED_LENGTH = 1000;

/** URLs longer than this are not parsed at all: reading one costs time for parts that would mostly be too long. */
const MAX_URL_LENGTH = 8 * MAX_DERIVED_LENGTH;

/** The campaign parameters copied from `$current_url`'s query when the event lacks them. */
export const UTM_PARAMETERS = ["utm_source", "utm_medium", "utm_campaign"] as const;

/**
 * Referrers known by name, so a breakdown by `$source` shows "Google" once rather than google.com, google.de and
 * www.google.co.uk apart. A pattern is a domain that matches itself and its subdomains (`bing.com`: www.bing.com,
 * cn.bing.com), or `name.*` for a name followed by any country's domain (`google.*`: google.com, google.de,
 * google.co.uk, www.google.com.br). Anything else is named by its domain.
 */
export const KNOWN_SOURCES: readonly (readonly [name: string, patterns: readonly string[]])[] = [
  ["Google", ["google.*"]],
  ["Bing", ["bing.com"]],
  ["DuckDuckGo", ["duckduckgo.com"]],
  ["Yahoo", ["yahoo.*"]],
  ["Baidu", ["baidu.com"]],
  ["Yandex", ["yandex.*", "ya.ru"]],
  ["Ecosia", ["ecosia.org"]],
  ["Brave", ["search.brave.com"]],
  ["ChatGPT", ["chatgpt.com", "chat.openai.com"]],
  ["Perplexity", ["perplexity.ai"]],
  ["Facebook", ["facebook.com", "fb.com", "fb.me"]],
  ["Instagram", ["instagram.com"]],
  ["X", ["t.co", "twitter.com", "x.com"]],
  ["LinkedIn", ["linkedin.com", "lnkd.in"]],
  ["Reddit", ["reddit.com"]],
  ["YouTube", ["youtube.com", "youtu.be"]],
  ["Pinterest", ["pinterest.*"]],
  ["GitHub", ["github.com"]],
  ["Hacker News", ["news.ycombinator.com"]],
];

/** The names of exact domains: a host is looked up, then each of its parent domains. */
const BY_DOMAIN: ReadonlyMap<string, string> = new Map(
  KNOWN_SOURCES.flatMap(([name, patterns]) => patterns.filter((p) => !p.endsWith(".*")).map((domain) => [domain, name] as const)),
);

/** Every `name.*` pattern in one expression: the name, a top-level domain, maybe after a second-level one (co.uk, com.br). */
const WILDCARD_NAMES: ReadonlyMap<string, string> = new Map(
  KNOWN_SOURCES.flatMap(([name, patterns]) => patterns.filter((p) => p.endsWith(".*")).map((p) => [p.slice(0, -2), name] as const)),
);
const WILDCARDS = new RegExp(`(?:^|\\.)(${[...WILDCARD_NAMES.keys()].join("|")})\\.(?:(?:com?|net|org|gov|edu)\\.)?[a-z]{2,3}$`);

/** The name KNOWN_SOURCES gives a host (lower case, no port), if any. */
function knownSource(host: string): string | undefined {
  for (let domain = host; ;) {
    const name = BY_DOMAIN.get(domain);
    if (name !== undefined) return name;
    const dot = domain.indexOf(".");
    if (dot < 0) break;
    domain = domain.slice(dot + 1);
  }
  const wildcard = WILDCARDS.exec(host);
  return wildcard ? WILDCARD_NAMES.get(wildcard[1]!) : undefined;
}

/** What Pulse reads of a `$current_url`: its path, its host (null for a relative URL), its campaign parameters. */
interface Page {
  readonly pathname: string;
  readonly host: string | null;
  readonly utm: readonly (readonly [name: string, value: string])[];
}

/** What Pulse reads of a referrer: its domain, that domain's host without port and `www.`, and the source it names. */
interface Referrer {
  readonly domain: string;
  readonly host: string;
  readonly source: string;
}

/**
 * Distinct URLs remembered with what they say, of each kind (`$current_url`, `$referrer`): they repeat (every event of
 * a page view carries the page's), and a look-up costs a fraction of parsing. Least recently used evicted.
 */
export const URL_CACHE_SIZE = 2000;

/** Longer URLs are parsed every time rather than remembered: the caches stay within a few MB whatever is sent. */
const MAX_CACHED_URL_LENGTH = 1000;

const DIRECT: Referrer = Object.freeze({ domain: DIRECT_REFERRER, host: DIRECT_REFERRER, source: DIRECT_SOURCE });

/**
 * The properties a page's URLs say, for those the event does not carry (the caller keeps the client's own values):
 * - `$pathname`: the path of `$current_url`;
 * - `utm_source`, `utm_medium`, `utm_campaign`: from `$current_url`'s query;
 * - `$referring_domain`: the host of `$referrer` (with its port, as posthog-js sends it), `$direct` when the referrer
 *   is missing, empty, `$direct` or not an absolute URL;
 * - `$source`: "Direct" without a referrer, a known search engine or social site by name (KNOWN_SOURCES), else the
 *   referring domain without `www.`; nothing for an internal referrer (the same host as `$current_url`, `www.` aside):
 *   like Plausible, moving between a site's own pages is not a source.
 * An event with neither `$current_url` nor `$referrer` (a server-side event without a page) gets none of them.
 * Never throws, whatever the values; a value longer than MAX_DERIVED_LENGTH is not set. What each URL says is
 * remembered (URL_CACHE_SIZE of each kind).
 */
export class PageUrls {
  private readonly pages = new LRUCache<string, Page | typeof UNPARSABLE>({ max: URL_CACHE_SIZE });
  /** By `$referrer` URL. */
  private readonly referrers = new LRUCache<string, Referrer>({ max: URL_CACHE_SIZE });

  derive(properties: JsonObject): JsonObject {
    const derived: JsonObject = {};
    this.addTo(derived, properties, NOTHING_KEPT);
    return derived;
  }

  /**
   * Sets on `target` what `properties`' URLs say, except the properties `kept` has (the client's own: the caller
   * passes `properties` itself); how many were set. Saves building an object per event only to copy it.
   */
  addTo(target: JsonObject, properties: JsonObject, kept: JsonObject): number {
    const currentUrl = properties["$current_url"];
    const referrer = properties["$referrer"];
    if (typeof currentUrl !== "string" && typeof referrer !== "string") return 0;
    let added = 0;
    const page = typeof currentUrl === "string" ? this.page(currentUrl) : null;
    if (page) {
      added += set(target, kept, "$pathname", page.pathname);
      for (const [name, value] of page.utm) added += set(target, kept, name, value);
    }
    const clientDomain = properties["$referring_domain"];
    // posthog-js sends its own $referring_domain: nothing to parse, so nothing remembered.
    const from =
      typeof clientDomain === "string" && clientDomain !== ""
        ? referrerOfDomain(clientDomain.toLowerCase())
        : typeof referrer === "string"
          ? this.referrer(referrer)
          : DIRECT;
    added += set(target, kept, "$referring_domain", from.domain);
    // An internal referrer names no source.
    if (from === DIRECT || page?.host == null || from.host !== page.host) added += set(target, kept, "$source", from.source);
    return added;
  }

  private page(url: string): Page | null {
    if (url.length > MAX_CACHED_URL_LENGTH) return pageOf(url);
    let page = this.pages.get(url);
    if (page === undefined) {
      page = pageOf(url) ?? UNPARSABLE;
      this.pages.set(url, page);
    }
    return page === UNPARSABLE ? null : page;
  }

  private referrer(url: string): Referrer {
    if (url === "" || url === DIRECT_REFERRER) return DIRECT;
    if (url.length > MAX_CACHED_URL_LENGTH) return referrerOfUrl(url);
    let referrer = this.referrers.get(url);
    if (referrer === undefined) {
      referrer = referrerOfUrl(url);
      this.referrers.set(url, referrer);
    }
    return referrer;
  }
}

const NOTHING_KEPT: JsonObject = Object.freeze({});

/** Sets `name` on `target` unless `kept` has it or the value is over MAX_DERIVED_LENGTH: 1 when set, else 0. */
function set(target: JsonObject, kept: JsonObject, name: string, value: string): number {
  if (value.length > MAX_DERIVED_LENGTH || Object.hasOwn(kept, name)) return 0;
  target[name] = value;
  return 1;
}

/** Remembered for a `$current_url` that cannot be parsed (lru-cache keeps no null). */
const UNPARSABLE = Symbol("unparsable");

/** `PageUrls.derive` without remembering anything (tests; one-off uses). */
export function urlProperties(properties: JsonObject): JsonObject {
  return new PageUrls().derive(properties);
}

function pageOf(text: string): Page | null {
  const url = parseUrl(text, true);
  if (!url) return null;
  const utm: [string, string][] = [];
  if (url.search.includes("utm_")) {
    for (const name of UTM_PARAMETERS) {
      const value = url.searchParams.get(name);
      if (value !== null && value !== "") utm.push([name, value]);
    }
  }
  const host = url.host === "pulse.invalid" ? null : withoutWww(hostname(url.host));
  return Object.freeze({ pathname: url.pathname, host, utm });
}

/** A `$referrer` URL: its host, or `$direct` when it is not an absolute URL with one. */
function referrerOfUrl(text: string): Referrer {
  return referrerOfDomain(referringDomainOf(text));
}

/** A referring domain, as posthog-js sends it or as read from `$referrer`. */
function referrerOfDomain(domain: string): Referrer {
  if (domain === DIRECT_REFERRER) return DIRECT;
  const host = withoutWww(hostname(domain));
  return Object.freeze({ domain, host, source: knownSource(host) ?? host });
}

/** The host of an absolute http(s) or other URL, or `$direct`. */
export function referringDomainOf(referrer: unknown): string {
  if (typeof referrer !== "string" || referrer === "" || referrer === DIRECT_REFERRER) return DIRECT_REFERRER;
  const url = parseUrl(referrer, false);
  return url && url.host !== "" ? url.host : DIRECT_REFERRER;
}

/** `$source` for a referring domain seen on a page of `pageHost` (null when unknown); null for an internal referrer. */
export function sourceOf(referringDomain: string, pageHost: string | null): string | null {
  const from = referrerOfDomain(referringDomain);
  if (from !== DIRECT && pageHost !== null && from.host === withoutWww(hostname(pageHost.toLowerCase()))) return null;
  return from.source;
}

/** `new URL` that returns null instead of throwing; a relative `$current_url` (`/pricing?x=1`) reads as a path. */
function parseUrl(text: string, relative: boolean): URL | null {
  if (text.length > MAX_URL_LENGTH) return null;
  try {
    // With a base URL, parsing takes twice as long: only for what does not start like an absolute web URL.
    return relative && !text.startsWith("https://") && !text.startsWith("http://") ? new URL(text, "http://pulse.invalid") : new URL(text);
  } catch {
    return null;
  }
}

/** A host without its port: `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`. */
function hostname(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1) || host;
  const colon = host.indexOf(":");
  return colon > 0 && colon === host.lastIndexOf(":") ? host.slice(0, colon) : host;
}

function withoutWww(host: string): string {
  return host.startsWith("www.") ? host.slice(4) : host;
}
