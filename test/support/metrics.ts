import parsePrometheusTextFormat, { type ParsedFamily, type ParsedMetric } from "parse-prometheus-text-format";

/** A Go float as Prometheus reads it (strconv.ParseFloat: NaN and infinities in any case). */
const FLOAT = String.raw`[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|[Nn][Aa][Nn]|[Ii][Nn][Ff](?:inity)?)`;
const LABEL = String.raw`[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"`;
/** One sample line of the text format: name, optional labels, value, optional timestamp. */
const SAMPLE_LINE = new RegExp(String.raw`^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:${LABEL}(?:,${LABEL})*,?)?\})? ${FLOAT}(?: -?\d+)?$`);
const COMMENT_LINE = /^# (?:HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (?:counter|gauge|histogram|summary|untyped))$/;

/** A parsed /metrics response. */
export class Scrape {
  readonly families: ReadonlyMap<string, ParsedFamily>;

  constructor(readonly text: string) {
    // The parser accepts some malformed lines silently, so every line is also held to the format's grammar.
    const bad = text.split("\n").filter((line) => line !== "" && !SAMPLE_LINE.test(line) && !COMMENT_LINE.test(line));
    if (bad.length > 0) throw new Error(`Not Prometheus text format:\n${bad.join("\n")}`);
    this.families = new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
  }

  family(name: string): ParsedFamily {
    const family = this.families.get(name);
    if (!family) throw new Error(`No metric family ${name} in the scrape`);
    return family;
  }

  /** The value of the counter or gauge sample with exactly these labels. */
  value(name: string, labels: Record<string, string> = {}): number {
    return Number(this.sample(name, labels).value);
  }

  /** Count and sum of a histogram sample. */
  histogram(name: string, labels: Record<string, string> = {}): { count: number; sum: number } {
    const sample = this.sample(name, labels);
    return { count: Number(sample.count), sum: Number(sample.sum) };
  }

  private sample(name: string, labels: Record<string, string>): ParsedMetric {
    const wanted = JSON.stringify(Object.entries(labels).sort());
    const found = this.family(name).metrics.find((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()) === wanted);
    if (!found) throw new Error(`No sample ${name}${JSON.stringify(labels)}`);
    return found;
  }
}

/** GET `${baseUrl}/metrics` with a real HTTP client; fails unless it answers 200 in Prometheus text format. */
export async function scrape(baseUrl: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`, { headers });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${text}`);
  if (!response.headers.get("content-type")?.startsWith("text/plain"))
    throw new Error(`content-type ${response.headers.get("content-type")}`);
  return new Scrape(text);
}
