import { describe, expect, it } from "vitest";
import { ConfigError, defaultText, describeConfig, loadConfig, resolveConfig, SETTINGS } from "../src/config.ts";
import { TRUST_SETTINGS } from "../src/limits/settings.ts";

describe("the settings table", () => {
  it("fills every config field, each from its own variable, with the default --help shows", () => {
    const defaults = resolveConfig();
    expect(Object.keys(defaults).sort()).toEqual([...SETTINGS.map((s) => s.key), "trust"].sort());
    expect(Object.keys(defaults.trust).filter((key) => key !== "hideFieldSuggestions").sort()).toEqual(
      TRUST_SETTINGS.map((s) => s.key).sort(),
    );
    expect(new Set(SETTINGS.map((s) => s.env)).size).toBe(SETTINGS.length);
    for (const setting of SETTINGS) {
      if (setting.defaultText === undefined) expect(defaultText(setting), setting.env).toBe(String(defaults[setting.key]));
    }
    // The one setting whose default differs by origin: npm start persists, createPulseServer stays memory-only.
    expect(loadConfig({})).toEqual({ ...defaults, databaseUrl: "file:./data/pulse.db" });
    expect(defaults.databaseUrl).toBeNull();
  });

  it("reads LOG_LEVEL in any case and PULSE_METRICS_KEY as given; blank means the default", () => {
    const config = loadConfig({ LOG_LEVEL: "DEBUG", PULSE_METRICS_KEY: "k-123", PULSE_MAX_BATCH: "10", PULSE_SUBSCRIBER_QUEUE: " " });
    expect(config).toMatchObject({ logLevel: "debug", metricsKey: "k-123", maxBatch: 10, subscriberQueue: 20 });
    expect(loadConfig({ LOG_LEVEL: "" }).logLevel).toBe("info");
    expect(loadConfig({}).metricsKey).toBeUndefined();
  });

  it("reports every bad value together, naming the variable and the value", () => {
    let error: unknown;
    try {
      loadConfig({ LOG_LEVEL: "verbose", PULSE_BUFFER_SIZE: "-5", PORT: "70000" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'PORT must be an integer from 0 to 65535, got "70000"',
      'PULSE_BUFFER_SIZE must be a positive integer, got "-5"',
      'LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"',
    ]);
  });

  it("describes the settings in force without revealing secrets", () => {
    const described = describeConfig(loadConfig({ PULSE_METRICS_KEY: "k-secret-9", PORT: "0" }));
    expect(Object.keys(described)).toEqual([...SETTINGS, ...TRUST_SETTINGS].map((s) => s.env));
    expect(described).toMatchObject({ PORT: 0, PULSE_METRICS_KEY: "set", LOG_LEVEL: "info" });
    expect(JSON.stringify(described)).not.toContain("k-secret-9");
    expect(describeConfig(loadConfig({})).PULSE_METRICS_KEY).toBe("unset");
    const keyed = describeConfig(loadConfig({ PULSE_READ_KEYS: "read-key-0123456789abcdef" }));
    expect(keyed["PULSE_READ_KEYS"]).toBe("1 configured");
    expect(JSON.stringify(keyed)).not.toContain("read-key-0123456789abcdef");
  });
});
