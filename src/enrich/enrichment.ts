import type { CapturedEvent, JsonObject } from "../domain/event.ts";
import { isIP } from "node:net";
import { GeoIp, bundledGeoDatabase } from "./geoip.ts";
import type { EnrichmentPart } from "./settings.ts";
import { PageUrls } from "./url.ts";
import { UserAgents } from "./user-agent.ts";

/** What the request that carried a capture says about its sender (see CaptureRequest). */
export interface Sender {
  /** The client's IP address (behind trusted proxies, the one they forwarded), or "unknown". */
  readonly address: string;
  /** The request's User-Agent header, when it had one. */
  readonly userAgent?: string | undefined;
}

export interface EnrichmentStats {
  /** Distinct User-Agent strings remembered (at most USER_AGENT_CACHE_SIZE). */
  readonly userAgentsCached: number;
  /** Whether a GeoIP database is loaded (PULSE_ENRICH has `geo` and the database could be read). */
  readonly geo: boolean;
}

export interface EnrichmentOptions {
  /** PULSE_ENRICH: the parts that run. */
  readonly parts: readonly EnrichmentPart[];
  /** The loaded database, or null for no countries (geo off, or the database could not be read). */
  readonly geo: GeoIp | null;
  /** PULSE_STORE_IP: keep `$ip` on events (the client's own, else the sender's address). Off: `$ip` is removed. */
  readonly storeIp: boolean;
}

/**
 * Properties Pulse derives for every captured event, whatever the transport, under PostHog's names: the browser,
 * OS and device type from the User-Agent (user-agent.ts), the country from the client's address (geoip.ts), and the
 * page's path, campaign, referring domain and source from its URLs (url.ts). A property the event already carries is
 * never replaced: the client's own value wins. The event's own `$raw_user_agent` (posthog-js's name) and `$ip` speak
 * for the request's when present, so a backend capturing on a user's behalf gets the user's browser and country;
 * `$geoip_disable: true` skips the country. `$ip` itself is removed unless PULSE_STORE_IP is on.
 *
 * It runs after validation: the limits (PULSE_MAX_EVENT_BYTES, PULSE_MAX_PROPERTY_COUNT) apply to what the client
 * sent, and enrichment adds at most 12 properties (13 with `$ip`) of at most MAX_DERIVED_LENGTH characters each, so
 * a valid event is never refused because of it.
 */
export class Enrichment {
  private readonly userAgents: UserAgents | null;
  private readonly geo: GeoIp | null;
  private readonly urls: PageUrls | null;
  private readonly storeIp: boolean;

  constructor({ parts, geo, storeIp }: EnrichmentOptions) {
    this.userAgents = parts.includes("ua") ? new UserAgents() : null;
    this.geo = parts.includes("geo") ? geo : null;
    this.urls = parts.includes("url") ? new PageUrls() : null;
    this.storeIp = storeIp;
  }

  /**
   * Builds the enrichment a server runs with: reads the GeoIP database when `geo` is on (`geoipDatabase`, or the
   * bundled one when null). A database that cannot be read is not fatal: `onGeoUnavailable` is told why, and events
   * get no country (analytics without countries beats no analytics).
   */
  static async create(options: {
    readonly parts: readonly EnrichmentPart[];
    readonly geoipDatabase: string | null;
    readonly storeIp: boolean;
    readonly onGeoUnavailable: (path: string, error: unknown) => void;
  }): Promise<Enrichment> {
    const { parts, geoipDatabase, storeIp, onGeoUnavailable } = options;
    let geo: GeoIp | null = null;
    if (parts.includes("geo")) {
      let path = geoipDatabase ?? "@ip-location-db/geo-whois-asn-country-mmdb";
      try {
        path = geoipDatabase ?? bundledGeoDatabase();
        geo = await GeoIp.open(path);
      } catch (error) {
        onGeoUnavailable(path, error);
      }
    }
    return new Enrichment({ parts, geo, storeIp });
  }

  /**
   * The enrichment of one request's events: what depends on the request alone (its User-Agent, its address's
   * country) is looked up once, on the first event that needs it.
   */
  forSender(sender: Sender): (event: CapturedEvent) => CapturedEvent {
    const lookups = new SenderLookups(sender, this.userAgents, this.geo);
    return (event) => this.enrich(event, lookups);
  }

  private enrich(event: CapturedEvent, lookups: SenderLookups): CapturedEvent {
    const { properties } = event;
    const derived: JsonObject = {};
    let added = 0;
    if (this.userAgents) added += addMissing(derived, properties, lookups.agent(properties));
    if (this.geo && properties["$geoip_disable"] !== true) added += addMissing(derived, properties, lookups.country(properties));
    if (this.urls) added += this.urls.addTo(derived, properties, properties);
    const hasIp = Object.hasOwn(properties, "$ip");
    if (this.storeIp && !hasIp && isIP(lookups.sender.address) !== 0) {
      derived["$ip"] = lookups.sender.address;
      added++;
    }
    const removeIp = hasIp && !this.storeIp;
    if (added === 0 && !removeIp) return event;
    // Object.assign, not a spread followed by new keys: V8 builds that shape several times slower (~5 µs an event).
    const enriched: JsonObject = removeIp ? withoutIp(properties) : Object.assign({}, properties);
    return { ...event, properties: Object.assign(enriched, derived) };
  }

  stats(): EnrichmentStats {
    return { userAgentsCached: this.userAgents?.cached ?? 0, geo: this.geo !== null };
  }
}

/** One request's look-ups, each done once: its User-Agent and its address's country. */
class SenderLookups {
  private senderAgent: JsonObject | undefined;
  private senderCountry: JsonObject | null | undefined;

  constructor(
    readonly sender: Sender,
    private readonly userAgents: UserAgents | null,
    private readonly geo: GeoIp | null,
  ) {}

  /** The event's own `$raw_user_agent` speaks for the request's User-Agent. */
  agent(properties: JsonObject): JsonObject | undefined {
    const raw = properties["$raw_user_agent"];
    if (typeof raw === "string" && raw !== "") return this.userAgents?.describe(raw) as JsonObject | undefined;
    if (this.sender.userAgent === undefined) return undefined;
    return (this.senderAgent ??= this.userAgents?.describe(this.sender.userAgent) as JsonObject | undefined);
  }

  /** The event's own `$ip` speaks for the request's address (whatever it holds: a backend's `null` gets no country). */
  country(properties: JsonObject): JsonObject | null {
    if (Object.hasOwn(properties, "$ip")) {
      const ip = properties["$ip"];
      return typeof ip === "string" ? ((this.geo?.country(ip) ?? null) as JsonObject | null) : null;
    }
    if (this.senderCountry === undefined) this.senderCountry = (this.geo?.country(this.sender.address) ?? null) as JsonObject | null;
    return this.senderCountry;
  }
}

/** Copies into `target` the keys of `more` that `properties` lacks; how many. */
function addMissing(target: JsonObject, properties: JsonObject, more: JsonObject | null | undefined): number {
  let added = 0;
  if (more) {
    for (const key in more) {
      if (!Object.hasOwn(properties, key)) {
        target[key] = more[key]!;
        added++;
      }
    }
  }
  return added;
}

/** A copy of `properties` without `$ip` (built without `delete`, which would leave the copy slow to read). */
function withoutIp(properties: JsonObject): JsonObject {
  const copy: JsonObject = {};
  for (const key in properties) if (key !== "$ip" && Object.hasOwn(properties, key)) copy[key] = properties[key]!;
  return copy;
}
