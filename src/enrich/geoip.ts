import { createRequire } from "node:module";
import maxmind, { type Reader, type Response } from "maxmind";
import { normalizeAddress, parseAddress } from "./client-address.ts";

/** The country of an address, under PostHog's property names. */
export interface GeoProperties {
  /** ISO 3166-1 alpha-2, e.g. "US". */
  readonly $geoip_country_code: string;
  /** In English, e.g. "United States". */
  readonly $geoip_country_name: string;
}

/**
 * The database Pulse ships with: `@ip-location-db/geo-whois-asn-country-mmdb` (country only, IPv4 and IPv6; CC0,
 * built from the regional registries' data). PULSE_GEOIP_DATABASE names another file in the same MMDB format.
 */
export function bundledGeoDatabase(): string {
  return createRequire(import.meta.url).resolve("@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb");
}

/** The two record shapes Pulse reads: ip-location-db's `{ country_code }`, MaxMind's (and DB-IP's) `{ country }`. */
interface CountryRecord {
  readonly country_code?: unknown;
  readonly country?: { readonly iso_code?: unknown; readonly names?: { readonly en?: unknown } };
}

const regionNames = new Intl.DisplayNames(["en"], { type: "region", fallback: "none" });

/** Countries from an MMDB file (read whole into memory once: ~8 MB for the bundled one). */
export class GeoIp {
  private constructor(private readonly reader: Reader<Response>) {}

  /**
   * Reads the database at `path`. Readers are shared by path within the process (the file is read once however
   * many servers start: tests start dozens); a failed read is not remembered, so a later start tries again.
   */
  static open(path: string): Promise<GeoIp> {
    let opening = readers.get(path);
    if (!opening) {
      // maxmind keeps an LRU of recent look-ups (10,000 entries by default): repeated visitors cost a map hit.
      opening = maxmind.open<Response>(path).then((reader) => new GeoIp(reader));
      readers.set(path, opening);
      opening.catch(() => readers.delete(path));
    }
    return opening;
  }

  /**
   * The country of a public address, or null: for a private, loopback, link-local or otherwise reserved address
   * (no country to find), one that is not an IP address, or one the database does not know.
   */
  country(address: string): GeoProperties | null {
    const ip = parseAddress(normalizeAddress(address));
    if (ip === undefined || ip.range() !== "unicast") return null;
    const record = this.reader.get(ip.toString()) as CountryRecord | null;
    const code = record?.country?.iso_code ?? record?.country_code;
    if (typeof code !== "string" || !/^[A-Z]{2}$/.test(code)) return null;
    const name = record?.country?.names?.en;
    return { $geoip_country_code: code, $geoip_country_name: typeof name === "string" ? name : countryName(code) };
  }
}

const readers = new Map<string, Promise<GeoIp>>();

/** English names by code, looked up once each (there are fewer than 300 codes). */
const names = new Map<string, string>();
function countryName(code: string): string {
  let name = names.get(code);
  if (name === undefined) {
    name = regionNames.of(code) ?? code;
    names.set(code, name);
  }
  return name;
}
