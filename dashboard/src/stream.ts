import type { PulseEvent } from "../../packages/client/src/index.ts";
import { ago, el, flag, pathOf } from "./format.ts";

/** Events kept in the list; older ones fall off so a busy server cannot grow the page. */
const STREAM_LIMIT = 200;

/**
 * The live event list, newest first: each row shows the event's name, its path, where and on what it came from
 * (country, browser) when known, who sent it and how long ago, and opens every property in a dialog. Pause holds new
 * events (counted on the button) until Resume.
 */
export class EventStream {
  private readonly list: HTMLElement;
  private readonly onOpen: (event: PulseEvent) => void;
  private paused = false;
  private held: PulseEvent[] = [];

  constructor(list: HTMLElement, onOpen: (event: PulseEvent) => void) {
    this.list = list;
    this.onOpen = onOpen;
    // Relative times ("12s ago") age on their own.
    setInterval(() => this.refreshTimes(), 5000);
  }

  get size(): number {
    return this.list.childElementCount;
  }

  /** Pauses or resumes; returns how many events are held. */
  setPaused(paused: boolean): number {
    this.paused = paused;
    if (!paused) {
      const backlog = this.held;
      this.held = [];
      backlog.forEach((e) => this.add(e));
    }
    return this.held.length;
  }

  get heldCount(): number {
    return this.held.length;
  }

  clear(): void {
    this.held = [];
    this.list.replaceChildren();
  }

  add(event: PulseEvent): void {
    if (this.paused) {
      this.held.push(event);
      return;
    }
    const properties = event.properties as Record<string, unknown>;
    const item = el("li");
    const button = el("button", "event");
    button.type = "button";
    const name = el("span", "name", event.event);
    if (event.event.startsWith("$")) name.classList.add("builtin");
    const path = el("span", "path", pathOf(properties) || "—");
    const country = typeof properties["$geoip_country_code"] === "string" ? properties["$geoip_country_code"] : "";
    const browser = typeof properties["$browser"] === "string" ? properties["$browser"] : "";
    const who = el("span", "who", [flag(country), browser, event.distinctId].filter(Boolean).join(" · "));
    const time = el("time", "", ago(event.timestamp));
    time.dateTime = event.timestamp;
    time.title = new Date(event.timestamp).toLocaleString();
    button.append(name, path, who, time);
    button.addEventListener("click", () => this.onOpen(event));
    item.append(button);
    this.list.prepend(item);
    while (this.list.childElementCount > STREAM_LIMIT) this.list.lastElementChild!.remove();
  }

  private refreshTimes(): void {
    const now = Date.now();
    for (const time of this.list.querySelectorAll("time")) time.textContent = ago(time.dateTime, now);
  }
}
