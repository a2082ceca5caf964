/**
 * Reading an `Accept-Encoding` request header (RFC 9110 §12.5.3): which content codings the client takes, and how
 * much it wants each. Used by every route that sends something compressed: the dashboard's files, GraphQL answers
 * and GraphiQL's page (src/transport/compression.ts), /metrics.
 *
 * The reading is conservative, since a coding the client cannot decode makes the answer unreadable while sending
 * it uncompressed only costs bytes: a weight that is not a valid qvalue (`q=abc`, `q=2`) counts as 0; a coding named
 * twice takes its lower weight; a coding named explicitly is not overridden by `*`. It never throws.
 */

/** A coding's weight, 0 (refused) to 1, for every coding the header names; `*` stands for every other coding. */
function weights(header: string): Map<string, number> {
  const named = new Map<string, number>();
  for (const element of header.split(",")) {
    const [coding = "", ...params] = element.split(";");
    const name = coding.trim().toLowerCase();
    if (!name) continue;
    let weight = 1;
    for (const param of params) {
      const [key = "", value = ""] = param.split("=");
      if (key.trim().toLowerCase() === "q") weight = qvalue(value.trim());
    }
    named.set(name, Math.min(weight, named.get(name) ?? 1));
  }
  return named;
}

/** RFC 9110's qvalue: `0`, `0.` up to three digits, `1`, `1.` and up to three zeros. Anything else: 0. */
function qvalue(text: string): number {
  return /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(text) ? Number(text) : 0;
}

/** The weight `header` gives `coding` (lower-case name, such as "br" or "gzip"): 0 when it refuses or omits it. */
export function acceptedWeight(header: string | undefined, coding: string): number {
  if (!header) return 0;
  const named = weights(header);
  return named.get(coding) ?? named.get("*") ?? 0;
}

/** Whether an Accept-Encoding header accepts `coding` (named, or through `*`, with a weight above 0). */
export function accepts(header: string | undefined, coding: string): boolean {
  return acceptedWeight(header, coding) > 0;
}

/**
 * The codings of `offered` (lower-case names, in the server's order of preference) that `header` accepts, the
 * client's favourite first; equal weights keep the server's order. Codings that `header` weighs below `identity`
 * (named explicitly, as in `identity, gzip;q=0.5`) are left out: that client would rather have the bytes as they are.
 * Empty when there is no header, or nothing offered is accepted.
 */
export function acceptableCodings<const T extends string>(header: string | undefined, offered: readonly T[]): T[] {
  if (!header) return [];
  const named = weights(header);
  const identity = named.get("identity") ?? 0;
  const weighed = offered
    .map((coding, order) => ({ coding, order, weight: named.get(coding) ?? named.get("*") ?? 0 }))
    .filter(({ weight }) => weight > 0 && weight >= identity);
  return weighed.sort((a, b) => b.weight - a.weight || a.order - b.order).map(({ coding }) => coding);
}

/** The coding to send for `header` among `offered` (server's order of preference), or undefined for none. */
export function negotiateEncoding<const T extends string>(header: string | undefined, offered: readonly T[]): T | undefined {
  return acceptableCodings(header, offered)[0];
}
