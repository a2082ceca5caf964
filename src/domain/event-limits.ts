import { badInput } from "./errors.ts";

/** Bounds on one captured event, from the trust settings (`eventLimitsOf` in src/trust.ts; defaults in the table). */
export interface EventLimits {
  /** The validated event serialized as JSON, in UTF-8 bytes (PULSE_MAX_EVENT_BYTES). */
  readonly maxEventBytes: number;
  /** Characters in one property key, at any depth (PULSE_MAX_PROPERTY_KEY_LENGTH). */
  readonly maxPropertyKeyLength: number;
  /** Nesting of objects and arrays; `properties` itself is level 1 (PULSE_MAX_PROPERTY_DEPTH). */
  readonly maxPropertyDepth: number;
  /** Keys plus array items in `properties`, all levels together (PULSE_MAX_PROPERTY_COUNT). */
  readonly maxPropertyCount: number;
  /** Events dated further back than this are refused (PULSE_MAX_EVENT_AGE_SECONDS × 1000). */
  readonly maxEventAgeMs: number;
}

/**
 * Checks that `properties` is plain JSON within the limits, without recursion (a hostile nesting cannot overflow
 * the stack) and stopping at the first excess (a hostile size costs no more than the limit). `where` prefixes the
 * field named in the BAD_USER_INPUT, e.g. `inputs[3].properties`.
 */
export function checkProperties(properties: object, limits: EventLimits, where: string): void {
  let count = 0;
  const pending: { value: unknown; depth: number; path: string }[] = [{ value: properties, depth: 1, path: where }];
  while (pending.length > 0) {
    const { value, depth, path } = pending.pop()!;
    if (depth > limits.maxPropertyDepth) {
      throw badInput(`${path} is nested deeper than ${limits.maxPropertyDepth} levels (PULSE_MAX_PROPERTY_DEPTH)`, {
        field: path,
        limit: limits.maxPropertyDepth,
      });
    }
    const children: [string, unknown][] = [];
    const addChild = (childPath: string, child: unknown) => {
      if (++count > limits.maxPropertyCount) {
        throw badInput(`${where} has more than ${limits.maxPropertyCount} keys and items (PULSE_MAX_PROPERTY_COUNT)`, {
          field: where,
          limit: limits.maxPropertyCount,
        });
      }
      children.push([childPath, child]);
    };
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) addChild(`${path}[${i}]`, value[i]);
    } else {
      for (const key in value as object) {
        if (!Object.hasOwn(value as object, key)) continue;
        if (key.length > limits.maxPropertyKeyLength) {
          throw badInput(
            `${path} has a key of ${key.length} characters ("${key.slice(0, 32)}..."), the limit is ${limits.maxPropertyKeyLength} (PULSE_MAX_PROPERTY_KEY_LENGTH)`,
            { field: path, limit: limits.maxPropertyKeyLength },
          );
        }
        addChild(`${path}.${key}`, (value as Record<string, unknown>)[key]);
      }
    }
    for (const [childPath, child] of children) {
      const kind = jsonKind(child);
      if (kind === "container") pending.push({ value: child, depth: depth + 1, path: childPath });
      else if (kind !== "scalar") throw badInput(`${childPath} must be a JSON value, got ${kind}`, { field: childPath });
    }
  }
}

/** "scalar", "container" (plain object or array), or a description of what makes the value not JSON. */
function jsonKind(value: unknown): string {
  switch (typeof value) {
    case "string":
    case "boolean":
      return "scalar";
    case "number":
      return Number.isFinite(value) ? "scalar" : String(value);
    case "object": {
      if (value === null || Array.isArray(value)) return value === null ? "scalar" : "container";
      const prototype: unknown = Object.getPrototypeOf(value);
      return prototype === Object.prototype || prototype === null ? "container" : "a non-plain object";
    }
    default:
      return typeof value;
  }
}

/** Refuses an event whose JSON form exceeds `maxEventBytes`; `where` names the input, e.g. `inputs[3]`. */
export function checkEventSize(event: unknown, limits: EventLimits, where: string): void {
  const bytes = Buffer.byteLength(JSON.stringify(event), "utf8");
  if (bytes > limits.maxEventBytes) {
    throw badInput(`${where} is ${bytes} bytes as JSON, the limit is ${limits.maxEventBytes} (PULSE_MAX_EVENT_BYTES)`, {
      field: where,
      limit: limits.maxEventBytes,
    });
  }
}
