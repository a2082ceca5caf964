import { describe, expect, it } from "vitest";
import { authenticateBareKey, KeyRing, OPEN_PRINCIPAL } from "../../src/auth/keys.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { PulseError } from "../../src/domain/errors.ts";

const READ = "read-key-0123456789abcdef";
const CAPTURE = "capture-key-0123456789abcdef";
const SCOPED = "scoped-key-0123456789abcdef";

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    if (error instanceof PulseError) return error.code;
    throw error;
  }
  return undefined;
};

describe("KeyRing", () => {
  const keys = new KeyRing([CAPTURE], [READ, `${SCOPED}:staging`]);

  it("resolves Bearer keys to their role and scope", () => {
    expect(keys.authenticate(`Bearer ${READ}`)).toMatchObject({ role: "read", environment: null });
    expect(keys.authenticate(`bearer ${CAPTURE}`)).toMatchObject({ role: "capture", environment: null });
    expect(keys.authenticate(`Bearer ${SCOPED}`)).toMatchObject({ role: "read", environment: "staging" });
  });

  it("refuses a missing, malformed or unknown key with UNAUTHENTICATED and never echoes it", () => {
    for (const header of [undefined, "", READ, `Basic ${READ}`, "Bearer nope-0123456789abcdef", `Bearer ${READ}x`, 42]) {
      expect(codeOf(() => keys.authenticate(header))).toBe("UNAUTHENTICATED");
    }
    try {
      keys.authenticate("Bearer secret-guess-0123456789");
    } catch (error) {
      expect((error as Error).message).not.toContain("secret-guess");
    }
  });

  it("gives each key a stable non-secret id", () => {
    const id = keys.authenticate(`Bearer ${READ}`).keyId!;
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(READ).not.toContain(id);
    expect(new KeyRing([], [READ]).authenticate(`Bearer ${READ}`).keyId).toBe(id);
  });

  it("is open, with an unscoped read principal, when no key is configured", () => {
    const open = new KeyRing([], []);
    expect(open.enabled).toBe(false);
    expect(open.authenticate(undefined)).toBe(OPEN_PRINCIPAL);
    expect(authenticateBareKey(open, undefined)).toBe(OPEN_PRINCIPAL);
  });

  it("refuses a key listed twice", () => {
    expect(() => new KeyRing([READ], [READ])).toThrow(/listed twice/);
  });
});

describe("authenticateBareKey (PostHog api_key)", () => {
  const keys = new KeyRing([CAPTURE], [READ, `${SCOPED}:staging`]);
  it("grants capture and read keys, with the key's scope", () => {
    expect(authenticateBareKey(keys, CAPTURE)).toMatchObject({ role: "capture", environment: null });
    expect(authenticateBareKey(keys, READ).role).toBe("read");
    expect(authenticateBareKey(keys, SCOPED).environment).toBe("staging");
  });
  it("refuses a missing or unknown api_key with UNAUTHENTICATED", () => {
    expect(codeOf(() => authenticateBareKey(keys, undefined))).toBe("UNAUTHENTICATED");
    expect(codeOf(() => authenticateBareKey(keys, "unknown-key-0123456789"))).toBe("UNAUTHENTICATED");
  });
});

describe("trust settings from the environment", () => {
  it("reads keys and limits", () => {
    const config = loadConfig({
      PULSE_READ_KEYS: ` ${READ} , ${SCOPED}:staging `,
      PULSE_CAPTURE_KEYS: CAPTURE,
      PULSE_MAX_BODY_BYTES: "2048",
      PULSE_CAPTURE_RATE: "5",
    });
    expect(config.trust.readKeys).toEqual([READ, `${SCOPED}:staging`]);
    expect(config.trust.captureKeys).toEqual([CAPTURE]);
    expect(config.trust.maxBodyBytes).toBe(2048);
    expect(config.trust.captureRatePerSecond).toBe(5);
    expect(config.trust.maxWsPayloadBytes).toBe(1024 * 1024);
  });

  it("reports every bad value together, naming the setting but never the key", () => {
    try {
      loadConfig({ PULSE_READ_KEYS: "short", PULSE_MAX_BODY_BYTES: "lots", PULSE_CAPTURE_KEYS: `${CAPTURE}:` });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).toContain("PULSE_READ_KEYS: entry 1");
      expect(message).toContain("PULSE_CAPTURE_KEYS: entry 1");
      expect(message).toContain('PULSE_MAX_BODY_BYTES must be an integer of at least 1024, got "lots"');
      expect(message).not.toContain("short");
    }
  });
});
