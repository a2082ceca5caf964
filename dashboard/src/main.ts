import { RealtimeAnalytics, type EventFilter, type FilterOperator, type PulseEvent } from "../../packages/client/src/index.ts";
import "./style.css";

/** Events kept in the stream list; older ones fall off so a busy server cannot grow the page. */
const STREAM_LIMIT = 200;
const KEY_STORAGE = "pulse.readKey";
const TRANSPORT_STORAGE = "pulse.transport";
/**
 * How long the WebSocket may take to go live, while plain HTTP requests are answered, before the page switches to
 * SSE for this tab: a proxy that does not pass WebSocket upgrades (a common reverse-proxy setup) otherwise leaves the
 * stream dead though everything else works. SSE is plain HTTP.
 */
const WEBSOCKET_FALLBACK_MS = 5000;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const origin = location.origin;
let apiKey = localStorage.getItem(KEY_STORAGE) ?? undefined;
let paused = false;
let held: PulseEvent[] = [];
let client: RealtimeAnalytics | null = null;
let transport: "ws" | "sse" = typeof WebSocket === "function" && sessionStorage.getItem(TRANSPORT_STORAGE) !== "sse" ? "ws" : "sse";
/** When a dashboard query last got data back over plain HTTP (epoch ms). */
let httpAnsweredAt = 0;
let fallbackTimer: ReturnType<typeof setTimeout> | undefined;

// The filter lives in the query string so a view can be shared; the key never does.
function readFilter(): EventFilter {
  const q = new URLSearchParams(location.search);
  const events = (q.get("events") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const filter: { -readonly [K in keyof EventFilter]: EventFilter[K] } = {};
  if (events.length) filter.events = events;
  if (q.get("environment")) filter.environment = q.get("environment");
  const prop = q.get("prop");
  if (prop) {
    const raw = q.get("value");
    let value: unknown = raw;
    if (raw !== null && raw !== "" && !Number.isNaN(Number(raw))) value = Number(raw);
    filter.properties = [{ property: prop, operator: (q.get("op") ?? "EQUALS") as FilterOperator, value }];
  }
  return filter;
}

function fillForm(): void {
  const form = $<HTMLFormElement>("filters");
  const q = new URLSearchParams(location.search);
  for (const name of ["events", "environment", "prop", "op", "value"]) {
    const field = form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement | null;
    if (field && q.get(name) !== null) field.value = q.get(name)!;
  }
}

function headers(): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json" };
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  return h;
}

interface Dashboard {
  liveUsers: number;
  eventsPerMinute: { event: string; count: number }[];
  topPages: { path: string; count: number }[];
  timeline: { minute: string; events: number; uniqueUsers: number }[];
}

const DASHBOARD = `query ($environment: String) { liveDashboard(environment: $environment) {
  liveUsers eventsPerMinute { event count } topPages(limit: 10) { path count } timeline(minutes: 30) { minute events uniqueUsers } } }`;

async function refresh(): Promise<void> {
  try {
    const res = await fetch(`${origin}/graphql`, {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ query: DASHBOARD, variables: { environment: readFilter().environment ?? null } }),
    });
    const body = (await res.json()) as { data?: { liveDashboard: Dashboard }; errors?: { extensions?: { code?: string } }[] };
    if (body.errors?.some((e) => e.extensions?.code === "UNAUTHENTICATED")) return askForKey();
    if (body.data) {
      httpAnsweredAt = Date.now();
      render(body.data.liveDashboard);
    }
  } catch {
    // The server is away: the status pill already says so, the next tick retries.
  }
}

function render(d: Dashboard): void {
  $("live-users").textContent = String(d.liveUsers);
  bars(
    $("breakdown"),
    d.eventsPerMinute.map((e) => [e.event, e.count]),
  );
  bars(
    $("pages"),
    d.topPages.map((p) => [p.path, p.count]),
  );
  chart(d.timeline);
}

function bars(list: HTMLElement, rows: [string, number][]): void {
  list.replaceChildren(
    ...(rows.length ? rows : [["nothing yet", 0] as [string, number]]).map(([label, count]) => {
      const li = document.createElement("li");
      const a = document.createElement("span");
      a.textContent = label;
      const b = document.createElement("span");
      b.textContent = String(count);
      li.append(a, b);
      return li;
    }),
  );
}

function chart(points: Dashboard["timeline"]): void {
  const w = 600,
    h = 160,
    pad = 2;
  const max = Math.max(1, ...points.map((p) => p.events));
  const bw = w / points.length;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const total = points.reduce((s, p) => s + p.events, 0);
  svg.setAttribute("aria-label", `Events per minute, last ${points.length} minutes: ${total} in all, at most ${max} in one minute`);
  points.forEach((p, i) => {
    const rect = document.createElementNS(ns, "rect");
    const bh = ((h - pad) * p.events) / max;
    rect.setAttribute("x", String(i * bw + 1));
    rect.setAttribute("width", String(Math.max(1, bw - 2)));
    rect.setAttribute("y", String(h - pad - bh));
    rect.setAttribute("height", String(bh));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${new Date(p.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ${p.events} events, ${p.uniqueUsers} users`;
    rect.append(title);
    svg.append(rect);
  });
  // The caption stays HTML: text inside a stretched (preserveAspectRatio=none) SVG would be distorted.
  const caption = document.createElement("p");
  caption.textContent = `${total} events in ${points.length} minutes · peak ${max}/min · newest on the right`;
  $("chart").replaceChildren(svg, caption);
}

function addToStream(event: PulseEvent): void {
  if (paused) {
    held.push(event);
    return;
  }
  const list = $("stream");
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  const time = document.createElement("time");
  time.textContent = new Date(event.timestamp).toLocaleTimeString();
  const name = document.createElement("strong");
  name.textContent = event.event;
  const who = document.createElement("span");
  who.textContent = event.distinctId;
  button.append(time, name, who);
  button.addEventListener("click", () => {
    $("detail-body").textContent = JSON.stringify(event, null, 2);
    $<HTMLDialogElement>("detail").showModal();
  });
  li.append(button);
  list.prepend(li);
  while (list.childElementCount > STREAM_LIMIT) list.lastElementChild!.remove();
}

function askForKey(): void {
  $("key").hidden = false;
  setStatus("needs a read key");
}

function setStatus(text: string): void {
  const el = $("status");
  el.textContent = text;
  el.className = `status ${text}`;
}

function connect(): void {
  const previous = client;
  const after = previous?.lastCursor ?? undefined;
  // Nothing to wait for: the old client only closes its socket, and its disconnect never rejects.
  void previous?.disconnect();
  const started = new RealtimeAnalytics(origin, { apiKey, transport, includePerson: true });
  client = started;
  $("status").dataset.transport = transport;
  $("status").title = transport === "ws" ? "live over WebSocket" : "live over Server-Sent Events";
  clearTimeout(fallbackTimer);
  if (transport === "ws") {
    const since = Date.now();
    fallbackTimer = setTimeout(() => {
      if (client !== started || started.status === "live" || httpAnsweredAt <= since) return;
      transport = "sse";
      sessionStorage.setItem(TRANSPORT_STORAGE, "sse");
      connect();
    }, WEBSOCKET_FALLBACK_MS);
  }
  started.onStatus((s) => setStatus(s));
  started.onError((e) => {
    if (e.code === "UNAUTHENTICATED") askForKey();
  });
  started.on("*", addToStream);
  started.connect(readFilter(), after ? { after } : {});
}

$<HTMLFormElement>("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  const data = new FormData(e.currentTarget as HTMLFormElement);
  const q = new URLSearchParams();
  for (const [k, v] of data) if (typeof v === "string" && v.trim() && !(k === "op" && !data.get("prop"))) q.set(k, v.trim());
  history.replaceState(null, "", q.size ? `?${q}` : location.pathname);
  $("stream").replaceChildren();
  held = [];
  // A new filter starts afresh rather than resuming the old client's cursor; closing it needs no waiting.
  void client?.disconnect();
  client = null;
  connect();
  void refresh();
});

$<HTMLFormElement>("key").addEventListener("submit", (e) => {
  e.preventDefault();
  const entry = new FormData(e.currentTarget as HTMLFormElement).get("key");
  const value = typeof entry === "string" ? entry.trim() : "";
  if (value) localStorage.setItem(KEY_STORAGE, value);
  else localStorage.removeItem(KEY_STORAGE);
  apiKey = value || undefined;
  $("key").hidden = true;
  connect();
  void refresh();
});

$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").textContent = paused ? `Resume` : "Pause";
  $("pause").setAttribute("aria-pressed", String(paused));
  if (!paused) {
    const backlog = held;
    held = [];
    backlog.forEach(addToStream);
  }
});

fillForm();
connect();
void refresh();
setInterval(() => void refresh(), 1000);
