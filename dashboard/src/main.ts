import { RealtimeAnalytics, type FilterOperator, type PulseEvent } from "../../packages/client/src/index.ts";
import { MinuteChart } from "./chart.ts";
import { DashboardFeed, type Dashboard, type Problem } from "./feed.ts";
import { addChip, chipLabel, operatorLabel, OPERATORS, readChips, removeChip, toEventFilter, writeChips, type Chip } from "./filters.ts";
import { clock, count, countryName, el } from "./format.ts";
import { BreakdownCard, countryLabel, equals, type CardSpec } from "./lists.ts";
import { WorldMap } from "./map.ts";
import { EventStream } from "./stream.ts";
import "./style.css";

const KEY_STORAGE = "pulse.readKey";
const TRANSPORT_STORAGE = "pulse.transport";
const THEME_STORAGE = "pulse.theme";
/**
 * How long the WebSocket may take to deliver, while plain HTTP requests are answered, before the page switches to
 * SSE for this tab: a proxy that does not pass WebSocket upgrades (a common reverse-proxy setup) otherwise leaves the
 * page dead though everything else works. SSE is plain HTTP.
 */
const WEBSOCKET_FALLBACK_MS = 5000;
/** Buffered events the live list starts with. */
const BACKFILL = 30;
/** No push for this long (the server pushes every second) and the page counts itself disconnected. */
const STALE_AFTER_MS = 3500;
/** The screen reader hears the visitor count when it changes, at most this often. */
const ANNOUNCE_EVERY_MS = 30_000;
/** Events that every page sends; the custom events list shows the others. */
const BUILTIN_EVENTS = new Set(["$pageview", "$pageleave", "$autocapture"]);

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const origin = location.origin;

// ---- state -------------------------------------------------------------------------------------------------------

let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? localStorage.getItem(KEY_STORAGE) ?? undefined;
let transport: "ws" | "sse" = typeof WebSocket === "function" && sessionStorage.getItem(TRANSPORT_STORAGE) !== "sse" ? "ws" : "sse";
let chips: Chip[] = readChips(new URLSearchParams(location.search));
let feed: DashboardFeed | null = null;
let client: RealtimeAnalytics | null = null;
let fallbackTimer: ReturnType<typeof setTimeout> | undefined;
/** When data last came over the stream / over plain HTTP (epoch ms); when this connection started. */
let streamDataAt = 0;
let httpDataAt = 0;
let connectedAt = 0;
/** A problem being retried (offline, 503, 429), and since when; a fatal one stops everything until the user acts. */
let retrying: { problem: Problem; since: number } | null = null;
let fatal: Problem | null = null;
let unsupported = false;
let latest: Dashboard | null = null;
let announced = { value: -1, at: 0 };

// ---- widgets -----------------------------------------------------------------------------------------------------

const chart = new MinuteChart($("chart"), $<HTMLTableSectionElement>("chart-rows"));
const map = new WorldMap($("map"), $("map-legend"), (code) => pick(equals("$geoip_country_code")(code)));
const stream = new EventStream($("stream"), openDetail);

const CARDS: [string, CardSpec][] = [
  ["sources", { title: "Sources", tabs: [{ label: "Source", breakdown: "sources", column: "Source", chip: equals("$source") }] }],
  [
    "pages",
    {
      title: "Pages",
      tabs: [
        { label: "Top pages", breakdown: "pages", column: "Page", chip: equals("$pathname") },
        // EventFilter has no "entered at": an entry page filters by the page itself.
        { label: "Entry pages", breakdown: "entryPages", column: "Entry page", chip: equals("$pathname") },
      ],
    },
  ],
  [
    "locations",
    {
      title: "Countries",
      tabs: [{ label: "Country", breakdown: "countries", column: "Country", chip: equals("$geoip_country_code") }],
      label: countryLabel,
    },
  ],
  [
    "devices",
    {
      title: "Devices",
      tabs: [
        { label: "Browser", breakdown: "browsers", column: "Browser", chip: equals("$browser") },
        { label: "OS", breakdown: "oses", column: "Operating system", chip: equals("$os") },
        { label: "Type", breakdown: "deviceTypes", column: "Device", chip: equals("$device_type") },
      ],
    },
  ],
  [
    "campaigns",
    {
      title: "Campaigns",
      tabs: [
        { label: "Campaign", breakdown: "utmCampaigns", column: "UTM campaign", chip: equals("utm_campaign") },
        { label: "Source", breakdown: "utmSources", column: "UTM source", chip: equals("utm_source") },
        { label: "Medium", breakdown: "utmMediums", column: "UTM medium", chip: equals("utm_medium") },
      ],
      empty: "No visits tagged with utm_ parameters in the last 30 minutes",
    },
  ],
  [
    "custom-events",
    {
      title: "Custom events",
      tabs: [{ label: "Event", breakdown: "events", column: "Event", chip: equals("event") }],
      skip: (row) => BUILTIN_EVENTS.has(row.value),
      empty: "No custom events in the last 30 minutes",
    },
  ],
];
const cards = CARDS.map(([id, spec]) => new BreakdownCard($(id), spec, pick));
void map.load();

// ---- connecting --------------------------------------------------------------------------------------------------

/** (Re)starts the numbers and the event stream with the current key, transport and chips. */
function connect({ resume = false } = {}): void {
  const after = resume ? (client?.lastCursor ?? undefined) : undefined;
  feed?.close();
  // Nothing to wait for: the old client only closes its socket, and its disconnect never rejects.
  void client?.disconnect();
  if (!resume) stream.clear();
  fatal = null;
  retrying = null;
  connectedAt = Date.now();
  const scope = toEventFilter(chips);
  feed = new DashboardFeed({ origin, transport, apiKey }, { data: received, problem: onProblem, unsupported: onUnsupported });
  feed.watch(scope);
  const started = new RealtimeAnalytics(origin, { apiKey, transport, includePerson: true });
  client = started;
  started.on("*", (event) => {
    stream.add(event);
    if (latest) showEmptyState(latest);
  });
  const filter = { ...scope.filter, environment: scope.environment };
  // A fresh list starts with the newest buffered events, then live ones, with nothing missed in between (the server
  // takes the backlog and registers the subscription in one step); a resumed one continues after its last event.
  started.connect(filter, after ? { after } : { replay: BACKFILL });
  const status = $("status");
  status.dataset["transport"] = transport;
  status.title = transport === "ws" ? "Live over WebSocket" : "Live over Server-Sent Events";
  clearTimeout(fallbackTimer);
  if (transport === "ws") {
    const since = connectedAt;
    fallbackTimer = setTimeout(() => {
      if (streamDataAt > since || httpDataAt <= since || fatal) return;
      transport = "sse";
      sessionStorage.setItem(TRANSPORT_STORAGE, "sse");
      connect({ resume: true });
    }, WEBSOCKET_FALLBACK_MS);
  }
  paintStatus();
}

function received(dashboard: Dashboard, via: "http" | "stream"): void {
  if (via === "stream") {
    streamDataAt = Date.now();
    retrying = null;
  } else {
    httpDataAt = Date.now();
  }
  fatal = null;
  $("problem").hidden = true;
  latest = dashboard;
  render(dashboard);
  paintStatus();
}

function onProblem(problem: Problem): void {
  if (problem.fatal) {
    fatal = problem;
    retrying = null;
    void client?.disconnect();
    const hadKey = apiKey !== undefined;
    // A key Pulse refused to read with is of no use kept: the tab forgets it, and the device too.
    if (problem.kind === "unauthenticated" || problem.kind === "capture-key") {
      forgetKey();
      apiKey = undefined;
    }
    showProblem(problem, hadKey);
  } else {
    retrying = { problem, since: retrying?.since ?? (streamDataAt || Date.now()) };
  }
  paintStatus();
}

function onUnsupported(): void {
  unsupported = true;
  cards.forEach((card) => card.setUnsupported(true));
  paintChips();
}

// ---- rendering ---------------------------------------------------------------------------------------------------

function render(d: Dashboard): void {
  $("live-users").textContent = count(d.liveUsers);
  $("events-total").textContent = count(d.timeline.reduce((sum, p) => sum + p.events, 0));
  // The $pageview row of the events breakdown: its users are the visitors who viewed a page in the 30 minutes.
  const pageviews = d.breakdowns.events?.find((row) => row.value === "$pageview");
  const exact = !unsupported && d.breakdowns.events !== undefined;
  $("visitors-total").textContent = exact ? (pageviews?.approximate ? "≈" : "") + count(pageviews?.users ?? 0) : "–";
  $("pageviews-total").textContent = exact ? count(pageviews?.events ?? 0) : "–";
  announce(d.liveUsers);
  chart.update(d.timeline);
  cards.forEach((card) => card.update(d));
  map.update(d.breakdowns.countries ?? []);
  showEmptyState(d);
}

/** Nothing at all to show and no filter that could explain it: show how to send the first event instead. */
function showEmptyState(d: Dashboard): void {
  const nothing = d.liveUsers === 0 && d.timeline.every((p) => p.events === 0) && stream.size === 0;
  const empty = nothing && chips.length === 0;
  if (empty && $("empty").hidden) paintSnippet();
  $("empty").hidden = !empty;
  $("widgets").hidden = empty;
  document.querySelector<HTMLElement>(".chart")!.hidden = empty;
}

function announce(visitors: number): void {
  const now = Date.now();
  if (visitors === announced.value || now - announced.at < ANNOUNCE_EVERY_MS) return;
  announced = { value: visitors, at: now };
  $("visitors-announcer").textContent = `${visitors} current ${visitors === 1 ? "visitor" : "visitors"}`;
}

/** The status pill, the disconnected banner and the dimming, from when data last came and what went wrong. */
function paintStatus(): void {
  const now = Date.now();
  const live = !fatal && !retrying && streamDataAt > 0 && now - streamDataAt < STALE_AFTER_MS;
  const stale = !fatal && !live && (retrying !== null || (streamDataAt > 0 && now - streamDataAt >= STALE_AFTER_MS));
  const text = fatal ? "stopped" : live ? "live" : stale ? "reconnecting" : "connecting";
  const status = $("status");
  if (status.textContent !== text) status.textContent = text;
  status.className = `status ${text}`;
  $("main").classList.toggle("stale", stale || fatal !== null);
  const banner = $("offline");
  banner.hidden = !stale;
  if (stale) {
    const since = clock(retrying?.since ?? streamDataAt, true);
    const problem = retrying?.problem;
    const next = problem?.retryAt ? Math.max(0, Math.ceil((problem.retryAt - now) / 1000)) : 0;
    let text = `Disconnected since ${since} — reconnecting…`;
    if (streamDataAt === 0 && httpDataAt === 0) text = `Cannot reach Pulse at ${origin} since ${since} — retrying…`;
    if (problem?.kind === "unavailable") {
      text = `Disconnected since ${since}: Pulse is not ready (starting up, or its Redis is down) — reconnecting…`;
    }
    if (problem?.kind === "rate-limited") {
      text =
        `Rate limited since ${since}: Pulse refused this browser (429 RATE_LIMITED: too many connections or ` +
        `requests from this address) — retrying${next ? ` in ${next} s` : ""}…`;
    }
    if (banner.textContent !== text) banner.textContent = text;
  }
}
setInterval(paintStatus, 1000);

function showProblem(problem: Problem, hadKey: boolean): void {
  const messages: Record<Problem["kind"], string> = {
    unauthenticated: hadKey
      ? "Pulse did not accept this read key (401 UNAUTHENTICATED): it is not one of its keys. Enter a key from its PULSE_READ_KEYS."
      : "This Pulse needs a read key to show its data. Enter one of the keys in its PULSE_READ_KEYS setting.",
    "capture-key":
      "That is a capture key: it can send events but not read them (403 FORBIDDEN). Enter a read key (PULSE_READ_KEYS) to see the dashboard.",
    forbidden:
      `This key may not read this (403 FORBIDDEN: ${problem.message}). A key scoped to one environment reads only ` +
      "that environment: remove the Environment filter, or use another key.",
    "bad-request": `Pulse refused these filters: ${problem.message}. Change or remove a filter.`,
    "rate-limited": `Rate limited: ${problem.message}`,
    unavailable: `Pulse is not ready: ${problem.message}`,
    offline: `Cannot reach Pulse: ${problem.message}`,
  };
  $("problem-text").textContent = messages[problem.kind];
  const keyProblem = problem.kind === "unauthenticated" || problem.kind === "capture-key" || problem.kind === "forbidden";
  showKeyForm(keyProblem);
  $("problem").hidden = false;
}

function showKeyForm(show: boolean): void {
  const form = $<HTMLFormElement>("key-form");
  form.hidden = !show;
  $("forget-key").hidden = !apiKey;
  (form.elements.namedItem("remember") as HTMLInputElement).checked = localStorage.getItem(KEY_STORAGE) !== null;
}

// ---- filters -----------------------------------------------------------------------------------------------------

function pick(chip: Chip): void {
  setChips(addChip(chips, chip));
}

function setChips(next: Chip[], { push = true } = {}): void {
  chips = next;
  if (push) {
    const query = writeChips(chips, new URLSearchParams(location.search)).toString();
    history.pushState(null, "", query ? `?${query}` : location.pathname);
  }
  paintChips();
  connect();
}

function describeValue(property: string, value: string): string {
  return property === "$geoip_country_code" ? countryName(value) : value;
}

function paintChips(): void {
  const list = $("chips");
  const items = chips.map((chip, index) => {
    const label = chipLabel(chip, describeValue);
    const item = el("li", "chip");
    const remove = el("button", "remove", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", `Remove filter: ${label}`);
    remove.addEventListener("click", () => {
      setChips(removeChip(chips, index));
      // Keep the keyboard where it was: on the next chip's remove button, else on "Add filter".
      (list.querySelectorAll<HTMLButtonElement>(".chip .remove")[index] ?? $("add-filter").querySelector("summary"))?.focus();
    });
    item.append(el("span", "", label), remove);
    return item;
  });
  if (chips.length > 1) {
    const clear = el("button", "ghost clear", "Clear all");
    clear.type = "button";
    clear.addEventListener("click", () => {
      setChips([]);
      $("add-filter").querySelector("summary")?.focus();
    });
    const item = el("li");
    item.append(clear);
    items.push(item);
  }
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
  const note = $("filter-note");
  note.hidden = !(unsupported && chips.length);
  note.textContent = "This Pulse server filters only the live events list; update it to filter every number.";
}

function setUpFilterForm(): void {
  const form = $<HTMLFormElement>("filter-form");
  const select = form.elements.namedItem("operator") as HTMLSelectElement;
  for (const op of OPERATORS) {
    const option = el("option", "", operatorLabel(op));
    option.value = op;
    select.append(option);
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const property = field(data, "property").trim();
    const operator = (field(data, "operator") || "EQUALS") as FilterOperator;
    const next = addChip(chips, { property, operator, value: field(data, "value") });
    if (next.length === chips.length) return;
    form.reset();
    $<HTMLDetailsElement>("add-filter").open = false;
    setChips(next);
  });
}

/** A text field of a form ("" when absent). */
function field(data: FormData, name: string): string {
  const value = data.get(name);
  return typeof value === "string" ? value : "";
}

// ---- key ---------------------------------------------------------------------------------------------------------

function forgetKey(): void {
  sessionStorage.removeItem(KEY_STORAGE);
  localStorage.removeItem(KEY_STORAGE);
}

$<HTMLFormElement>("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.currentTarget as HTMLFormElement;
  const data = new FormData(form);
  const value = field(data, "key").trim();
  if (!value) return;
  apiKey = value;
  // The tab keeps the key until it closes; only "Remember" keeps it on the device.
  sessionStorage.setItem(KEY_STORAGE, value);
  if (data.get("remember")) localStorage.setItem(KEY_STORAGE, value);
  else localStorage.removeItem(KEY_STORAGE);
  form.reset();
  $("problem").hidden = true;
  connect();
});

$("forget-key").addEventListener("click", () => {
  forgetKey();
  apiKey = undefined;
  $("problem").hidden = true;
  connect();
});

$("key-button").addEventListener("click", () => {
  const problem = $("problem");
  if (!problem.hidden && !$("key-form").hidden) {
    problem.hidden = true;
    return;
  }
  $("problem-text").textContent = apiKey
    ? "This page reads with a key kept for this tab. Enter another, or forget it."
    : "Enter a read key (one of PULSE_READ_KEYS) if this Pulse requires one.";
  showKeyForm(true);
  problem.hidden = false;
  ($<HTMLFormElement>("key-form").elements.namedItem("key") as HTMLInputElement).focus();
});

// ---- the rest ----------------------------------------------------------------------------------------------------

function openDetail(event: PulseEvent): void {
  $("detail-title").textContent = `${event.event} · ${new Date(event.timestamp).toLocaleString()}`;
  $("detail-body").textContent = JSON.stringify(event, null, 2);
  $<HTMLDialogElement>("detail").showModal();
}

$("pause").addEventListener("click", () => {
  const paused = $("pause").getAttribute("aria-pressed") !== "true";
  stream.setPaused(paused);
  $("pause").setAttribute("aria-pressed", String(paused));
  $("pause").textContent = paused ? "Resume" : "Pause";
});
setInterval(() => {
  if (stream.heldCount) $("pause").textContent = `Resume (${count(stream.heldCount)} new)`;
}, 1000);

/**
 * The tracker's line for this Pulse. A page that reads without a key is on a server without keys, where the tracker
 * needs none either; otherwise it names where the capture key goes.
 */
function snippet(): string {
  return `<script defer src="${origin}/pulse.js"${apiKey ? ' data-key="YOUR_CAPTURE_KEY"' : ""}></script>`;
}

function paintSnippet(): void {
  $("snippet").textContent = snippet();
  $("key-note").hidden = !apiKey;
  $("open-note").hidden = !!apiKey;
}

$("copy").addEventListener("click", async () => {
  let copied = false;
  try {
    await navigator.clipboard.writeText(snippet());
    copied = true;
  } catch {
    // No clipboard (a page over plain http on another host): select the text for Ctrl+C instead.
    getSelection()?.selectAllChildren($("snippet"));
  }
  $("copy-status").textContent = copied ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy.";
});

const THEMES = ["auto", "light", "dark"] as const;
function applyTheme(theme: (typeof THEMES)[number]): void {
  if (theme === "auto") delete document.documentElement.dataset["theme"];
  else document.documentElement.dataset["theme"] = theme;
  const name = { auto: "Auto", light: "Light", dark: "Dark" }[theme];
  $("theme").querySelector(".theme-name")!.textContent = name;
  $("theme").setAttribute("aria-label", `Colour theme: ${{ auto: "automatic", light: "light", dark: "dark" }[theme]} (change)`);
}
$("theme").addEventListener("click", () => {
  const current = (localStorage.getItem(THEME_STORAGE) ?? "auto") as (typeof THEMES)[number];
  const next = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length]!;
  localStorage.setItem(THEME_STORAGE, next);
  applyTheme(next);
});

addEventListener("popstate", () => setChips(readChips(new URLSearchParams(location.search)), { push: false }));

applyTheme((localStorage.getItem(THEME_STORAGE) ?? "auto") as (typeof THEMES)[number]);
setUpFilterForm();
paintChips();
connect();
