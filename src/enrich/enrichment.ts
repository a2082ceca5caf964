import type { CapturedEvent, JsonObject, JsonValue } from "../domain/event.ts";
import { isIP } from "node:net";
import { GeoIp, bundledGeoDatabase } from "./geoip.ts";
import type { EnrichmentPart } from "./settings.ts";
import { urlProperties } from "./url.ts";
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
 * sent, and enrichment adds at most 12 properties (13 with `$ip`) of at most MAX_DERIVED_LENGTH characters each, so a valid event is
 * never refused because of it.
 */
export class Enrichment {
  private readonly userAgents: UserAgents | null;
  private readonly geo: GeoIp | null;
  private readonly urls: boolean;
  private readonly storeIp: boolean;

  constructor({ parts, geo, storeIp }: EnrichmentOptions) {
    this.userAgents = parts.includes("ua") ? new UserAgents() : null;
    this.geo = parts.includes("geo") ? geo : null;
    this.urls = parts.includes("url");
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
    let senderAgent: JsonObject | undefined;
    let senderCountry: JsonObject | null | undefined;
    const agentOf = (properties: JsonObject): JsonObject | undefined => {
      const raw = properties["$raw_user_agent"];
      if (typeof raw === "string" && raw !== "") return this.userAgents!.describe(raw) as JsonObject;
      if (sender.userAgent === undefined) return undefined;
      return (senderAgent ??= this.userAgents!.describe(sender.userAgent) as JsonObject);
    };
    const countryOf = (properties: JsonObject): JsonObject | null => {
      if (Object.hasOwn(properties, "$ip")) {
        const ip = properties["$ip"];
        return typeof ip === "string" ? (this.geo!.country(ip) as JsonObject | null) : null;
      }
      if (senderCountry === undefined) senderCountry = this.geo!.country(sender.address) as JsonObject | null;
      return senderCountry;
    };
    return (event) => {
      const { properties } = event;
      const derived: [string, JsonValue][] = [];
      const add = (more: JsonObject | null | undefined) => {
        if (more) for (const key in more) if (!Object.hasOwn(properties, key)) derived.push([key, more[key]!]);
      };
      if (this.userAgents) add(agentOf(properties));
      if (this.geo && properties["$geoip_disable"] !== true) add(countryOf(properties));
      if (this.urls) add(urlProperties(properties));
      const hasIp = Object.hasOwn(properties, "$ip");
      if (this.storeIp && !hasIp && isIP(sender.address) !== 0) derived.push(["$ip", sender.address]);
      const removeIp = hasIp && !this.storeIp;
      if (derived.length === 0 && !removeIp) return event;
      const enriched: JsonObject = { ...properties };
      for (const [key, value] of derived) enriched[key] = value;
      if (removeIp) delete enriched["$ip"];
      return { ...event, properties: enriched };
    };
  }

  stats(): EnrichmentStats {
    return { userAgentsCached: this.userAgents?.cached ?? 0, geo: this.geo !== null };
  }
}
