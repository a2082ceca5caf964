/**
 * What the enrichment settings accept, for src/config.ts to validate them with: kept apart from the modules that do
 * the work, so reading the settings (and `--help`) loads no parser or database reader.
 */
import { isIP } from "node:net";

/** The parts of enrichment PULSE_ENRICH can turn on: User-Agent, GeoIP, URLs. */
export const ENRICHMENT_PARTS = ["ua", "geo", "url"] as const;
export type EnrichmentPart = (typeof ENRICHMENT_PARTS)[number];

/** Why an entry of PULSE_TRUSTED_PROXIES is not an IP address or CIDR range, or undefined: the text follows the entry. */
export function trustedProxyProblem(entry: string): string | undefined {
  const [address, bits, extra] = entry.split("/");
  const version = address === undefined ? 0 : isIP(address);
  const valid =
    extra === undefined && version !== 0 && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128)));
  return valid ? undefined : "must be an IP address or a CIDR range such as 10.0.0.0/8 or fd00::/8";
}
