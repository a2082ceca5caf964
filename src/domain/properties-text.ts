import type { JsonObject } from "./event.ts";

/**
 * The JSON text of captured events' properties, made once at capture and kept until the snapshot writes it.
 *
 * Capture serializes every event's properties to check its size (PULSE_MAX_EVENT_BYTES), and the snapshot writer
 * serialized them again for its row: two `JSON.stringify` of the same object per event, 5 % and 8 % of the busy time
 * of the ingest_batch profile. The text made for the size check is remembered here, by properties object, extended
 * when enrichment adds properties, and taken (and forgotten) by the snapshot writer; an object with no remembered
 * text is serialized then, as before. Texts are kept only once a snapshot writer has said it takes them
 * (`taken()`; a server without persistence keeps none), by object identity in a WeakMap, so an event that is never
 * snapshotted (a fleet instance's own captures, which come back through Redis as new objects) leaves nothing behind
 * once its properties are collected.
 */
export class PropertiesText {
  private readonly texts = new WeakMap<JsonObject, string>();
  private kept = false;

  /** A snapshot writer takes the texts from now on: keep them. */
  taken(): void {
    this.kept = true;
  }

  remember(properties: JsonObject, text: string): void {
    if (this.kept) this.texts.set(properties, text);
  }

  /**
   * Remembers the text of `extended`, built as `Object.assign(Object.assign({}, base), added)`, from `base`'s: its
   * text with `added`'s members appended. Only when that is exactly `JSON.stringify(extended)`: none of `added`'s keys
   * is in `base` (Object.assign would overwrite in place), none is an array index (objects put those first), and
   * neither has an own `__proto__` (Object.assign sets the copy's prototype with it instead of a property).
   */
  extend(base: JsonObject, added: JsonObject, extended: JsonObject): void {
    const text = this.texts.get(base);
    if (text === undefined || Object.hasOwn(base, "__proto__")) return;
    for (const key in added) {
      if (Object.hasOwn(base, key) || isIndex(key) || key === "__proto__") return;
    }
    const more = JSON.stringify(added);
    if (more.length === 2) this.texts.set(extended, text);
    else if (text.length === 2) this.texts.set(extended, more);
    else this.texts.set(extended, `${text.slice(0, -1)},${more.slice(1)}`);
  }

  /** The JSON text of `properties`: the remembered one, now forgotten, or made now. */
  take(properties: JsonObject): string {
    const text = this.texts.get(properties);
    if (text === undefined) return JSON.stringify(properties);
    this.texts.delete(properties);
    return text;
  }
}

/** Might be an array index ("0", "42"), which objects list first, in numeric order: any key starting with a digit. */
function isIndex(key: string): boolean {
  const code = key.charCodeAt(0);
  return code >= 48 && code <= 57;
}
