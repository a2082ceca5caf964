/** Formatting shared by the widgets: numbers, times, countries. */

const numbers = new Intl.NumberFormat("en");
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const regions = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "region" }) : null;

/** 1234 → "1,234"; from 100,000 on, compact ("123.4K") so a list column keeps its width. */
export function count(n: number): string {
  return n >= 100_000 ? compact.format(n) : numbers.format(n);
}

/** "14:05" in the viewer's time zone. */
export function clock(at: Date | string | number, seconds = false): string {
  return new Date(at).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    ...(seconds ? { second: "2-digit" } : {}),
    hour12: false,
  });
}

/** "now", "12s ago", "4m ago", "2h ago", then the date. */
export function ago(at: string | number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - new Date(at).getTime()) / 1000));
  if (seconds < 5) return "now";
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return new Date(at).toLocaleDateString();
}

/** The English name of an ISO 3166-1 alpha-2 code ("US" → "United States"), else the code itself. */
export function countryName(code: string): string {
  if (!/^[A-Za-z]{2}$/.test(code)) return code;
  try {
    return regions?.of(code.toUpperCase()) ?? code;
  } catch {
    return code;
  }
}

/** The flag emoji of an alpha-2 code (two regional indicator letters); "" for anything else. */
export function flag(code: string): string {
  if (!/^[A-Za-z]{2}$/.test(code)) return "";
  return String.fromCodePoint(...[...code.toUpperCase()].map((c) => 0x1f1e6 + c.charCodeAt(0) - 65));
}

/** The path of an event: its `$pathname`, else the path of its `$current_url`. */
export function pathOf(properties: Record<string, unknown>): string {
  const pathname = properties["$pathname"];
  if (typeof pathname === "string" && pathname) return pathname;
  const url = properties["$current_url"];
  if (typeof url !== "string" || !url) return "";
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/** `document.createElement` with a class and text, the page's one DOM helper. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = "", text = ""): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}
