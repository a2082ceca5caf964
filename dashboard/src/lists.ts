import type { BreakdownName, BreakdownRow, Dashboard } from "./feed.ts";
import type { Chip } from "./filters.ts";
import { count, countryName, el, flag } from "./format.ts";

export interface Tab {
  readonly label: string;
  readonly breakdown: BreakdownName;
  /** The list's first column header. */
  readonly column: string;
  /** The chip a row click adds, for a row's value; null where a row cannot filter. */
  readonly chip: (value: string) => Chip | null;
}

export interface CardSpec {
  readonly title: string;
  readonly tabs: readonly Tab[];
  /** Rows shown; default 8. */
  readonly rows?: number;
  /** Rows to leave out (the built-in events of the custom events list). */
  readonly skip?: (row: BreakdownRow) => boolean;
  /** What a row shows for its value; default the value itself. */
  readonly label?: (value: string) => string;
  /** Shown when no row has data. */
  readonly empty?: string;
}

/** A condition on `property` equal to the row's value. */
export const equals =
  (property: string) =>
  (value: string): Chip => ({ property, operator: "EQUALS", value });

export const countryLabel = (code: string): string => `${flag(code)} ${countryName(code)}`.trim();

let ids = 0;

/**
 * A card listing one breakdown at a time (tabs choose which): a row per value with its visitors and events and a bar
 * in proportion, most visitors first. Each row is a button that adds its filter. Rows are updated in place, keyed by
 * value, so keyboard focus stays on a row while the numbers change under it.
 */
export class BreakdownCard {
  private readonly spec: CardSpec;
  private readonly list: HTMLOListElement;
  private readonly header: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly tabs: HTMLButtonElement[] = [];
  private selected = 0;
  private last: Dashboard | null = null;
  private lastKey = "";
  private unsupported = false;
  private readonly onPick: (chip: Chip) => void;
  private readonly section: HTMLElement;

  constructor(section: HTMLElement, spec: CardSpec, onPick: (chip: Chip) => void) {
    this.spec = spec;
    this.section = section;
    this.onPick = onPick;
    const id = `card-${++ids}`;
    section.classList.add("card", "list-card");
    const head = el("div", "card-head");
    const title = el("h2", "", spec.title);
    title.id = `${id}-title`;
    section.setAttribute("aria-labelledby", title.id);
    head.append(title);
    this.list = el("ol", "rows");
    this.list.id = `${id}-list`;
    if (spec.tabs.length > 1) {
      const tablist = el("div", "tabs");
      tablist.setAttribute("role", "tablist");
      tablist.setAttribute("aria-label", `${spec.title}: show by`);
      spec.tabs.forEach((tab, i) => {
        const button = el("button", "tab", tab.label);
        button.type = "button";
        button.id = `${id}-tab-${i}`;
        button.setAttribute("role", "tab");
        button.addEventListener("click", () => this.select(i));
        button.addEventListener("keydown", (e) => this.arrowKeys(e, i));
        this.tabs.push(button);
        tablist.append(button);
      });
      head.append(tablist);
    }
    this.header = el("div", "columns");
    this.header.setAttribute("aria-hidden", "true");
    section.prepend(head);
    // A card with more than its list (the map) says where the list goes.
    // The tab panel wraps the list (a role on the <ol> itself would take away its list semantics).
    this.panel = el("div", "panel");
    this.panel.id = `${id}-panel`;
    this.panel.append(this.header, this.list);
    if (this.tabs.length) {
      this.panel.setAttribute("role", "tabpanel");
      this.tabs.forEach((tab) => tab.setAttribute("aria-controls", this.panel.id));
    }
    (section.querySelector<HTMLElement>("[data-list-slot]") ?? section).append(this.panel);
    this.select(0, false);
  }

  update(dashboard: Dashboard): void {
    this.last = dashboard;
    this.render();
  }

  /** The server has no breakdowns: say so instead of an empty list (lists the server can still give keep working). */
  setUnsupported(unsupported: boolean): void {
    this.unsupported = unsupported;
    this.lastKey = "";
    this.render();
  }

  private select(index: number, focus = false): void {
    this.selected = index;
    this.tabs.forEach((tab, i) => {
      tab.setAttribute("aria-selected", String(i === index));
      tab.tabIndex = i === index ? 0 : -1;
    });
    if (this.tabs.length) this.panel.setAttribute("aria-labelledby", this.tabs[index]!.id);
    if (focus) this.tabs[index]!.focus();
    const tab = this.spec.tabs[index]!;
    this.header.replaceChildren(el("span", "", tab.column), el("span", "num", "Visitors"), el("span", "num sub", "Events"));
    this.lastKey = "";
    this.list.replaceChildren();
    this.render();
  }

  private arrowKeys(event: KeyboardEvent, index: number): void {
    const n = this.tabs.length;
    const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: n - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    this.select((next + n) % n, true);
  }

  private render(): void {
    const tab = this.spec.tabs[this.selected]!;
    const rows = this.last?.breakdowns[tab.breakdown];
    if (rows === undefined) {
      this.message(this.unsupported ? "This Pulse server does not serve breakdowns yet: update it to see this list." : "Waiting for data…");
      return;
    }
    // The server ranks by events; the page, like any web analytics, by visitors.
    const shown = rows
      .filter((r) => !this.spec.skip?.(r))
      .sort((a, b) => (b.users ?? 0) - (a.users ?? 0) || b.events - a.events)
      .slice(0, this.spec.rows ?? 8);
    this.section.classList.toggle(
      "no-users",
      shown.some((r) => r.users === null),
    );
    const key = JSON.stringify([this.selected, shown]);
    if (key === this.lastKey) return;
    this.lastKey = key;
    if (!shown.length) {
      this.message(this.spec.empty ?? "Nothing in the last 30 minutes");
      return;
    }
    this.list.querySelector(".empty")?.remove();
    const max = Math.max(1, ...shown.map((r) => r.users ?? r.events));
    const existing = new Map<string, HTMLLIElement>();
    for (const item of this.list.children) existing.set((item as HTMLElement).dataset["value"] ?? "", item as HTMLLIElement);
    const items = shown.map((row) => {
      const item = existing.get(row.value) ?? this.createRow(tab, row.value);
      existing.delete(row.value);
      this.fillRow(item, tab, row, max);
      return item;
    });
    for (const gone of existing.values()) gone.remove();
    // Move rows only when the order changed: moving a node takes keyboard focus off it.
    items.forEach((item, i) => {
      if (this.list.children[i] !== item) this.list.insertBefore(item, this.list.children[i] ?? null);
    });
  }

  private message(text: string): void {
    this.lastKey = "";
    const item = el("li", "empty", text);
    this.list.replaceChildren(item);
  }

  private createRow(tab: Tab, value: string): HTMLLIElement {
    const item = el("li");
    item.dataset["value"] = value;
    const chip = tab.chip(value);
    const row = chip ? el("button", "row") : el("div", "row");
    if (row instanceof HTMLButtonElement) {
      row.type = "button";
      row.addEventListener("click", () => this.onPick(chip!));
    }
    const label = el("span", "label", (this.spec.label ?? String)(value) || "(empty)");
    label.title = value;
    row.append(label, el("span", "num"), el("span", "num sub"));
    item.append(row);
    return item;
  }

  private fillRow(item: HTMLLIElement, tab: Tab, row: BreakdownRow, max: number): void {
    const button = item.firstElementChild as HTMLElement;
    button.style.setProperty("--share", `${(100 * (row.users ?? row.events)) / max}%`);
    const [, users, events] = button.children as unknown as [HTMLElement, HTMLElement, HTMLElement];
    const approx = row.approximate ? "≈" : "";
    users.textContent = row.users === null ? "–" : approx + count(row.users);
    events.textContent = approx + count(row.events);
    const label = (this.spec.label ?? String)(row.value) || "(empty)";
    const numbers = `${row.users === null ? "" : `${approx}${count(row.users)} visitors, `}${approx}${count(row.events)} events${row.approximate ? " (estimated)" : ""}`;
    button.setAttribute(
      "aria-label",
      `${label}: ${numbers}${button instanceof HTMLButtonElement ? `. Filter by ${tab.column.toLowerCase()}` : ""}`,
    );
    button.title = row.approximate ? "Estimated: the server counts this list in bounded memory" : "";
  }
}
